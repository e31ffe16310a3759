package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/home"
)

// A daemon killed mid-copy of a CApp (found by the CApp chaos run: kill -9
// during a deploy of a large .car) leaves the copy's temporary file,
// .NAME.car.tmp-NNN, in carbonapps/. MI ignores it, and it stayed for
// good, holding up to a whole CApp on what may be a full disk. The daemon
// that takes over removes it from the homes of the instances that run,
// before it resumes them, and says so; a stopped instance's home, into
// which an mictl generate may be copying, is left alone.
func TestADaemonTakingOverRemovesUnfinishedCAppCopies(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	d.up(2)
	d.must("down", "mi-2")
	d.killDaemon()
	leftover := func(name string) string {
		path := filepath.Join(home.CarbonAppsDir(filepath.Join(d.dir, "instances", name)), ".orders_1.0.0.car.tmp-2658966888")
		if err := os.WriteFile(path, []byte("half a CApp"), 0o644); err != nil { // what the killed daemon's copy left
			t.Fatal(err)
		}
		return path
	}
	running, stopped := leftover("mi-1"), leftover("mi-2")
	d.must("status") // a daemon takes over
	d.waitFor(running+" to be removed", func() bool {
		_, err := os.Stat(running)
		return os.IsNotExist(err)
	})
	if want := "mi-1 copy-leftovers-removed: removed from " + filepath.Dir(running); !strings.Contains(d.events(), want) {
		t.Errorf("events:\n%s\nwant %q", d.events(), want)
	}
	if _, err := os.Stat(stopped); err != nil {
		t.Errorf("%s, in a stopped instance's home: %v; want it left alone", stopped, err)
	}
}
