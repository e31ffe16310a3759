// Package companion finds the lean programs `make build` puts beside
// mictl (bin/mictl-sim, bin/mictl-daemon): each links only what its job
// needs, so it starts faster and holds less memory than mictl running the
// same job as a subcommand, which stays the fallback.
package companion

import (
	"debug/buildinfo"
	"os"
	"path/filepath"
	"runtime/debug"
)

// Beside returns the program name in the directory of exe when it is an
// executable file built from the same source as want (the running mictl's
// build): a companion left behind by an older build would speak an older
// protocol, so it is not used. ok is false when there is none to use.
func Beside(exe, name string, want *debug.BuildInfo) (path string, ok bool) {
	path = filepath.Join(filepath.Dir(exe), name)
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return "", false
	}
	got, err := buildinfo.ReadFile(path)
	if err != nil || want == nil || !sameSource(got, want) {
		return "", false
	}
	return path, true
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

// Running is the build of the running program (nil when it has none).
func Running() *debug.BuildInfo {
	info, _ := debug.ReadBuildInfo()
	return info
}

// sameSource reports whether a and b were built from the same module
// version or commit by the same Go. A build from an uncommitted tree can
// only be told by its commit: `make build` builds all programs at once.
func sameSource(a, b *debug.BuildInfo) bool {
	if a.GoVersion != b.GoVersion || a.Main.Path != b.Main.Path || a.Main.Version != b.Main.Version || a.Main.Sum != b.Main.Sum {
		return false
	}
	for _, key := range []string{"vcs.revision", "vcs.time", "vcs.modified"} {
		if setting(a, key) != setting(b, key) {
			return false
		}
	}
	return true
}

func setting(info *debug.BuildInfo, key string) string {
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}
