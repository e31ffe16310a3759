package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
)

// LoadLenient is Load for the commands that act on instances already made
// (status, down, restart, logs, ...): a config file that does not load
// must not keep the user from seeing or stopping what runs. When the file
// is the problem, its error comes back as fileErr with a configuration of
// the flags, the environment and the defaults, whose instances_dir is
// still the file's: the value it writes, when that much of it reads, else
// the default beside it. err is any other failure, and a --config that
// names no file.
func LoadLenient(src Sources) (cfg *Config, fileErr, err error) {
	cfg, err = Load(src)
	var ce *Error
	if !errors.As(err, &ce) || src.NoFile {
		return cfg, nil, err
	}
	if st, serr := os.Stat(src.Path); src.Path != "" && (errors.Is(serr, fs.ErrNotExist) || serr == nil && st.IsDir()) {
		return nil, nil, err // --config names no file (a typo, a directory): not a file to look past
	}
	fallback, ferr := Load(Sources{Flags: src.Flags, NoFile: true})
	if ferr != nil {
		return nil, nil, err
	}
	if fallback.IsDefault("instances_dir") {
		path := src.Path
		if path == "" {
			path = DefaultFile
		}
		dir := instancesDirIn(path, fallback.InstancesDir)
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(filepath.Dir(path), dir)
		}
		fallback.InstancesDir = dir
	}
	return fallback, err, nil
}

// instancesDirIn is the instances_dir a broken config file at path writes,
// or def when it cannot be read or does not say.
func instancesDirIn(path, def string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	var loose map[string]any
	if toml.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &loose) != nil {
		return def
	}
	if dir, ok := loose["instances_dir"].(string); ok && strings.TrimSpace(dir) != "" {
		return dir
	}
	return def
}
