package config

import (
	"os"
	"path/filepath"
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
		{"a syntax error: the default beside it", "instances = [\ninstances_dir = \"run\"\n", nil,
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
