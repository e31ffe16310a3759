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
// the default beside it. err is any other failure, a --config that names
// no file, and a file whose own problem hides where its instances are
// (it cannot be read, or its instances_dir line is the broken one): a
// look under the default would find nothing, and `down` stop nothing and
// say all is well.
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
		dir, known := instancesDirIn(path, fallback.InstancesDir)
		if !known {
			return nil, nil, &Error{Where: ce.Where, Msg: ce.Msg + "\n(mictl cannot tell from the file where its instances are: fix it, or name their directory with --instances-dir)"}
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(filepath.Dir(path), dir)
		}
		fallback.InstancesDir = dir
	}
	return fallback, err, nil
}

// instancesDirIn is the instances_dir the broken config file at path
// writes, or def when it does not set one. known is false when the file
// cannot say: it cannot be read, or it sets instances_dir on a line that
// does not read, or to no directory. A file with a syntax error
// elsewhere still says, on the line that sets it: instances_dir is a
// top-level key, on a line of its own before the first table.
func instancesDirIn(path, def string) (dir string, known bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var whole map[string]any
	if toml.Unmarshal(data, &whole) == nil {
		return instancesDirOf(whole, def)
	}
	for line := range strings.Lines(string(data)) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "[") {
			break
		}
		key, _, _ := strings.Cut(trimmed, "=")
		if strings.Trim(strings.TrimSpace(key), `"'`) != "instances_dir" {
			continue
		}
		var one map[string]any
		if toml.Unmarshal([]byte(line), &one) != nil {
			return "", false
		}
		return instancesDirOf(one, def)
	}
	return def, true
}

// instancesDirOf is the instances_dir a decoded config file sets, or def
// when it sets none; known is false when it sets one that is no
// directory's name (a number, an empty string).
func instancesDirOf(file map[string]any, def string) (dir string, known bool) {
	v, set := file["instances_dir"]
	if !set {
		return def, true
	}
	if dir, ok := v.(string); ok && strings.TrimSpace(dir) != "" {
		return dir, true
	}
	return "", false
}
