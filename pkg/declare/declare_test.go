package declare

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mictl/mictl/pkg/config"
)

func write(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cappsOf loads file as mictl does and returns the CApps instance runs.
func cappsOf(t *testing.T, file, instance string) []string {
	t.Helper()
	cfg, err := config.Load(config.Sources{Path: file})
	if err != nil {
		t.Fatalf("mictl cannot load what was written: %v\n%s", err, read(t, file))
	}
	var out []string
	for _, c := range cfg.CAppsOf(instance) {
		out = append(out, c.Path)
	}
	return out
}

func TestAddKeepsTheFileAndMictlReadsIt(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mictl.toml")
	src := "\ufeff# my deployment\r\ninstances = 3 # three\r\ncapps = [\r\n  \"build/a_1.0.0.car\", # orders\r\n]\r\n\r\n" +
		"# the edge\r\n[[instance]]\r\nname = \"mi-3\"\r\noffset = 40\r\n"
	write(t, file, src, 0o600)
	car := filepath.Join(dir, "build", "b_1.0.0.car")

	r, err := Add(file, car, Scopes(nil))
	if err != nil {
		t.Fatal(err)
	}
	if r.Entry != "build/b_1.0.0.car" || len(r.Changed) != 1 || r.Created {
		t.Fatalf("Add = %+v", r)
	}
	want := strings.Replace(src, "# orders\r\n", "# orders\r\n  \"build/b_1.0.0.car\",\r\n", 1)
	if got := read(t, file); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v: the file's permissions must stay", fi.Mode().Perm())
	}
	if got := cappsOf(t, file, "mi-1"); !slices.Equal(got, []string{filepath.Join(dir, "build/a_1.0.0.car"), car}) {
		t.Fatalf("mi-1 runs %v", got)
	}

	// Per instance: mi-3's table gets the key, mi-2's table is created.
	other := filepath.Join(t.TempDir(), "edge_1.0.0.car")
	r, err = Add(file, other, Scopes([]string{"mi-3", "mi-2"}))
	if err != nil || len(r.Changed) != 2 || r.Entry != other {
		t.Fatalf("Add = %+v, %v (a file outside the directory is stored absolute)", r, err)
	}
	got := read(t, file)
	if !strings.HasPrefix(got, want[:len(want)-2]) || !strings.Contains(got, "offset = 40\r\ncapps = [\""+other+"\"]\r\n") ||
		!strings.HasSuffix(got, "\r\n\r\n[[instance]]\r\nname = \"mi-2\"\r\ncapps = [\""+other+"\"]\r\n") {
		t.Fatalf("per-instance edit:\n%q", got)
	}
	if got := cappsOf(t, file, "mi-2"); !slices.Contains(got, other) || len(got) != 3 {
		t.Fatalf("mi-2 runs %v", got)
	}
	if got := cappsOf(t, file, "mi-1"); slices.Contains(got, other) {
		t.Fatalf("mi-1 runs %v, not its own", got)
	}

	// Declared already (under another spelling): nothing changes.
	before := read(t, file)
	r, err = Add(file, filepath.Join(dir, "build", "..", "build", "b_1.0.0.car"), Scopes(nil))
	if err != nil || len(r.Changed) != 0 || len(r.Already) != 1 || read(t, file) != before {
		t.Fatalf("Add again = %+v, %v", r, err)
	}
}

func TestAddCreatesTheFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "conf", "mictl.toml")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	car := filepath.Join(dir, "conf", "apps", "x_1.0.0.car")
	r, err := Add(file, car, Scopes([]string{"mi-2"}))
	if err != nil || !r.Created {
		t.Fatalf("Add = %+v, %v", r, err)
	}
	want := newFileHeader + "\n[[instance]]\nname = \"mi-2\"\ncapps = [\"apps/x_1.0.0.car\"]\n"
	if got := read(t, file); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if got := cappsOf(t, file, "mi-2"); !slices.Equal(got, []string{car}) {
		t.Fatalf("mi-2 runs %v", got)
	}
	top := filepath.Join(t.TempDir(), "mictl.toml")
	if _, err := Add(top, car, Scopes(nil)); err != nil {
		t.Fatal(err)
	}
	if got := read(t, top); got != newFileHeader+"\ncapps = [\""+car+"\"]\n" {
		t.Fatalf("top-level file:\n%q", got)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mictl.toml")
	car := filepath.Join(dir, "b.car")
	src := "capps = [\"a.car\", \"./b.car\"] # shared\n\n[[instance]]\nname = \"mi-2\"\ncapps = [\n  \"" + car + "\", # edge\n  \"c.car\",\n]\n"
	write(t, file, src, 0o644)

	r, err := Remove(file, car, Scopes([]string{"mi-2", "mi-9"}))
	if err != nil || len(r.Changed) != 1 || len(r.Already) != 1 || r.Already[0].Instance != "mi-9" {
		t.Fatalf("Remove = %+v, %v", r, err)
	}
	want := "capps = [\"a.car\", \"./b.car\"] # shared\n\n[[instance]]\nname = \"mi-2\"\ncapps = [\n  \"c.car\",\n]\n"
	if got := read(t, file); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if r, err = Remove(file, car, Scopes(nil)); err != nil || len(r.Changed) != 1 {
		t.Fatalf("Remove top level = %+v, %v", r, err)
	}
	if got := read(t, file); !strings.HasPrefix(got, "capps = [\"a.car\"] # shared\n") {
		t.Fatalf("top level: %q", got)
	}
	// The last one: the key goes too.
	if r, err = Remove(file, filepath.Join(dir, "a.car"), Scopes(nil)); err != nil || len(r.Changed) != 1 {
		t.Fatalf("Remove the last = %+v, %v", r, err)
	}
	if got := read(t, file); !strings.HasPrefix(got, "\n[[instance]]\nname = \"mi-2\"\n") {
		t.Fatalf("an emptied capps stays: %q", got)
	}
	// Nothing to remove: the file is not written.
	fi, _ := os.Stat(file)
	if r, err = Remove(file, car, Scopes(nil)); err != nil || len(r.Changed) != 0 {
		t.Fatalf("Remove again = %+v, %v", r, err)
	}
	if fi2, _ := os.Stat(file); !fi2.ModTime().Equal(fi.ModTime()) || !os.SameFile(fi, fi2) {
		t.Fatal("the file was rewritten although nothing changed")
	}
}

func TestMalformedFileIsRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mictl.toml")
	write(t, file, "instances = 3\ninstances = 4\n", 0o644)
	_, err := Add(file, "x.car", Scopes(nil))
	if err == nil || !strings.Contains(err.Error(), "mictl.toml:2:1") {
		t.Fatalf("Add to a malformed file: %v", err)
	}
	if got := read(t, file); got != "instances = 3\ninstances = 4\n" {
		t.Fatalf("the file changed: %q", got)
	}
}

// The [[instance]] table of an instance keep names stays, its emptied
// capps gone: it is what names an instance that runs beyond `instances`,
// which the next reload would stop without it.
func TestRemoveKeepsTheTablesItIsTold(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mictl.toml")
	car := filepath.Join(dir, "b.car")
	write(t, file, "instances = 1\n\n[[instance]]\nname = \"mi-2\"\ncapps = [\""+car+"\"]\n\n[[instance]]\nname = \"mi-3\"\ncapps = [\""+car+"\"]\n", 0o644)
	r, err := Remove(file, car, Scopes([]string{"mi-2", "mi-3"}), "mi-3")
	if err != nil || len(r.Dropped) != 1 || r.Dropped[0].Instance != "mi-2" || len(r.Named) != 1 || r.Named[0].Instance != "mi-3" {
		t.Fatalf("Remove = %+v, %v", r, err)
	}
	if got, want := read(t, file), "instances = 1\n\n[[instance]]\nname = \"mi-3\"\n"; got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

// A kept table that holds more than its name (an offset, a comment) is
// the user's and would stay anyway: it is not among those kept as told,
// whose note says the table alone keeps the instance running.
func TestRemoveNamesAKeptTableOnlyWhenItIsBare(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mictl.toml")
	car := filepath.Join(dir, "b.car")
	content := "instances = 1\n\n[[instance]]\nname = \"mi-2\"\noffset = 40\ncapps = [\"" + car + "\"]\n"
	write(t, file, content, 0o644)
	r, err := Remove(file, car, Scopes([]string{"mi-2"}), "mi-2")
	if err != nil || len(r.Changed) != 1 || len(r.Named) != 0 || len(r.Dropped) != 0 {
		t.Fatalf("Remove = %+v, %v; want mi-2 changed, neither named nor dropped", r, err)
	}
	if got, want := read(t, file), "instances = 1\n\n[[instance]]\nname = \"mi-2\"\noffset = 40\n"; got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

// Deploys and undeploys run at once (mictl deploy a.car & mictl deploy
// b.car) each keep the other's declaration: each read the file before the
// other wrote it, and the last write dropped the other's CApp.
func TestConcurrentEditsKeepEveryDeclaration(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mictl.toml")
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := Add(file, filepath.Join(dir, fmt.Sprintf("app%d_1.0.0.car", i)), Scopes(nil))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if entry := fmt.Sprintf("%q", fmt.Sprintf("app%d_1.0.0.car", i)); !strings.Contains(string(data), entry) {
			t.Errorf("%s lost:\n%s", entry, data)
		}
	}
}
