package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A broken config file still names where its instances are.
func TestLoadLenientKeepsTheFilesInstancesDir(t *testing.T) {
	t.Chdir(t.TempDir())
	tests := []struct {
		name, body string
		args       []string
		want       func(dir string) string
	}{
		{"a wrong type: its instances_dir still reads", "instances = \"two\"\ninstances_dir = \"run\"\n", nil,
			func(dir string) string { return filepath.Join(dir, "run") }},
		{"a syntax error elsewhere: its instances_dir line still reads", "base_offset = 22000 x\ninstances_dir = \"run\"\n[[instance]]\nname = \"a\"\n", nil,
			func(dir string) string { return filepath.Join(dir, "run") }},
		{"a syntax error, no instances_dir: the default beside it", "instances = [\n", nil,
			func(dir string) string { return filepath.Join(dir, "instances") }},
		{"an instance's key of that name is not the setting", "instances = [\n[[instance]]\ninstances_dir = \"x\"\n", nil,
			func(dir string) string { return filepath.Join(dir, "instances") }},
		{"absolute", "instances = \"two\"\ninstances_dir = \"/srv/mi\"\n", nil,
			func(string) string { return "/srv/mi" }},
		{"a flag wins", "instances = \"two\"\ninstances_dir = \"run\"\n", []string{"--instances-dir=mine"},
			func(string) string { return "mine" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body)
			fs := flagSet()
			fs.String("instances-dir", "", "")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, fileErr, err := LoadLenient(Sources{Path: path, Flags: fs})
			if err != nil || fileErr == nil {
				t.Fatalf("LoadLenient: fileErr %v, err %v; want the file's error only", fileErr, err)
			}
			if want := tc.want(filepath.Dir(path)); cfg.InstancesDir != want {
				t.Errorf("instances_dir %q, want %q", cfg.InstancesDir, want)
			}
		})
	}
	good := writeConfig(t, "instances = 2\n")
	// Where the file's own problem hides its instances_dir, a look under
	// the default would find nothing there: `down` stopped nothing and
	// said all was well. A flag naming the directory still does.
	for _, body := range []string{"instances_dir = \"run\n", "instances_dir = 5\n", "instances = \"two\"\ninstances_dir = \"\"\n"} {
		path := writeConfig(t, body)
		if cfg, fileErr, err := LoadLenient(Sources{Path: path}); err == nil || !strings.Contains(err.Error(), "--instances-dir") {
			t.Errorf("%q: %+v, fileErr %v, err %v; want an error saying to name --instances-dir", body, cfg, fileErr, err)
		}
		fs := flagSet()
		fs.String("instances-dir", "", "")
		if err := fs.Parse([]string{"--instances-dir=mine"}); err != nil {
			t.Fatal(err)
		}
		if cfg, fileErr, err := LoadLenient(Sources{Path: path, Flags: fs}); err != nil || fileErr == nil || cfg.InstancesDir != "mine" {
			t.Errorf("%q with --instances-dir: %+v, fileErr %v, err %v; want the flag's directory", body, cfg, fileErr, err)
		}
	}
	if cfg, fileErr, err := LoadLenient(Sources{Path: good}); err != nil || fileErr != nil || cfg.Instances != 2 {
		t.Errorf("a good file: %+v, %v, %v", cfg, fileErr, err)
	}
	if err := os.WriteFile("mictl.toml", []byte("instances = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, fileErr, _ := LoadLenient(Sources{}); fileErr == nil || cfg.InstancesDir != "instances" {
		t.Errorf("./mictl.toml broken: instances_dir %q, fileErr %v", cfg.InstancesDir, fileErr)
	}
}
