package deployment

import (
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A start script this user may not look at (mi_home under another user's
// 0700 directory) is no "does not exist": said as what it is, with what to
// do. Root reads through any mode, so the error is made here.
func TestNotAnMIHomeSaysPermissionDenied(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wso2mi-4.4.0")
	denied := &fs.PathError{Op: "stat", Path: filepath.Join(dir, "bin", "micro-integrator.sh"), Err: syscall.EACCES}
	got := notAnMIHome(dir, denied)
	if want := "mi_home " + dir + " cannot be looked into by this user (permission denied): give this user read and search access"; !strings.HasPrefix(got, want) {
		t.Errorf("notAnMIHome = %q, want it to begin %q", got, want)
	}
}
