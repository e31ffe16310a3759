package testports

import (
	"os"
	"path/filepath"
	"testing"
)

// pkg/sim's TestMain points TMPDIR at a directory of its own: its tests'
// spans and ports are still locked in the file every other suite on the
// host locks, not in one below that directory.
func TestLockFileStaysWhereTMPDIRWasAtStart(t *testing.T) {
	want := filepath.Join(os.TempDir(), "mictl-testports.lock")
	t.Setenv("TMPDIR", t.TempDir())
	t.Setenv(EnvLock, "")
	f := lockFile()
	if f == nil {
		t.Skipf("no lock file %s to open here", want)
	}
	if f.Name() != want {
		t.Fatalf("with TMPDIR pointed elsewhere, spans are locked in %s; want %s, which every suite on the host locks", f.Name(), want)
	}
}
