// Package companion finds the lean programs `make build` puts beside
// mictl (bin/mictl-sim, bin/mictl-daemon): each links only what its job
// needs, so it starts faster and holds less memory than mictl running the
// same job as a subcommand, which stays the fallback.
//
// A companion is used only when it comes from the same build as the
// running mictl: one left behind by an older build would speak an older
// protocol. The control socket has no version handshake, so the programs
// are matched by their build, read from the companion's file without
// running it (debug/buildinfo):
//   - programs stamped with a StampFlag (make build stamps all three with
//     a hash of their sources) match when their stamps are equal;
//   - unstamped ones match when both were built from the same clean commit
//     (go install ./cmd/...) or the same released module version;
//   - otherwise only a byte-for-byte copy of the running program matches.
package companion

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// StampFlag is the linker flag (for -ldflags) that stamps a program with
// value, the identity of one build of mictl's programs. It names no
// variable: the linker ignores it, and the build information the Go
// toolchain records in every binary keeps it, where Beside reads it.
func StampFlag(value string) string { return "-X " + stampSymbol + "=" + value }

const stampSymbol = "github.com/mictl/mictl/pkg/companion.buildStamp"

// Program is a program as Beside compares it: its file and its build.
type Program struct {
	Path  string
	Build *debug.BuildInfo
}

// Running is the running program.
func Running() Program {
	exe, _ := os.Executable()
	info, _ := debug.ReadBuildInfo()
	return Program{Path: exe, Build: info}
}

// Beside returns the program name in the directory of exe when it is an
// executable file of the same build as self (the running mictl). ok is
// false when there is none to use.
func Beside(exe, name string, self Program) (path string, ok bool) {
	path = filepath.Join(filepath.Dir(exe), name)
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return "", false
	}
	got, err := buildinfo.ReadFile(path)
	if err != nil || self.Build == nil {
		return "", false
	}
	switch same, known := sameBuild(self.Build, got); {
	case known:
		return path, same
	default:
		return path, sameFile(self.Path, path)
	}
}

// SameBuildAsProcess reports whether process pid runs a program of the
// same build as self, when their build information can tell (known). It
// reads the program the process started from (/proc/PID/exe), even when
// that file has since been replaced, as an upgrade does.
func SameBuildAsProcess(pid int, self Program) (same, known bool) {
	got, err := buildinfo.ReadFile(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || self.Build == nil {
		return false, false
	}
	return sameBuild(self.Build, got)
}

// sameBuild reports whether a and b come from the same build, when their
// build information can tell (known).
func sameBuild(a, b *debug.BuildInfo) (same, known bool) {
	if sa, sb := stampOf(a), stampOf(b); sa != "" || sb != "" {
		return sa == sb, true
	}
	if a.GoVersion != b.GoVersion || a.Main.Path != b.Main.Path {
		return false, true
	}
	if v := a.Main.Version; v != "" && v != "(devel)" {
		return v == b.Main.Version && a.Main.Sum == b.Main.Sum, true
	}
	ra, rb := setting(a, "vcs.revision"), setting(b, "vcs.revision")
	if ra != "" && setting(a, "vcs.modified") == "false" && setting(b, "vcs.modified") == "false" {
		return ra == rb && setting(a, "vcs.time") == setting(b, "vcs.time"), true
	}
	return false, false // an uncommitted tree, or no version control
}

// stampOf is the Stamp the linker flags of a build set, "" when none.
func stampOf(info *debug.BuildInfo) string {
	for _, f := range strings.Fields(setting(info, "-ldflags")) {
		if v, ok := strings.CutPrefix(f, stampSymbol+"="); ok {
			return v
		}
	}
	return ""
}

func setting(info *debug.BuildInfo, key string) string {
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// sameFile reports whether the files at a and b hold the same bytes.
func sameFile(a, b string) bool {
	fa, err := os.Open(a)
	if err != nil {
		return false
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false
	}
	defer fb.Close()
	ia, erra := fa.Stat()
	ib, errb := fb.Stat()
	if erra != nil || errb != nil || ia.Size() != ib.Size() {
		return false
	}
	ba, bb := make([]byte, 1<<16), make([]byte, 1<<16)
	for {
		na, erra := io.ReadFull(fa, ba)
		nb, _ := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false
		}
		if erra != nil {
			return true // both ended together
		}
	}
}

// EnvMictl names, in the environment of a companion program mictl starts,
// the mictl that started it: what the companion runs where it needs mictl
// itself (the simulator distribution's fallback, `mictl sim run`).
const EnvMictl = "MICTL_EXE"

// Mictl is the mictl program: the one that started this companion program
// (EnvMictl), else the running executable.
func Mictl() (string, error) {
	if exe := os.Getenv(EnvMictl); exe != "" {
		return exe, nil
	}
	return os.Executable()
}
