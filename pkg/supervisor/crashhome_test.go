package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mictl/mictl/pkg/companion"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/sim"
)

// crashSite is a site of one ready instance cloned from the simulator
// distribution dist, which prepare gets before the instance is planned.
// Its supervisor knows another distribution, as a daemon does after a
// reload changed mi_home: a home is put back from its own.
func crashSite(t *testing.T, prepare func(dist string)) (s *simSite, dist, homeDir string, ready Event) {
	t.Helper()
	s = newSimSite(t, DefaultPolicy())
	s.sup.dist = filepath.Join(s.dir, "mi-home-before-a-reload")
	dist = filepath.Join(s.dir, "instances", ".dist")
	opts, err := sim.MictlDistOptions()
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.WriteDist(dist, opts); err != nil {
		t.Fatal(err)
	}
	prepare(dist)
	s.reload("instances = 1\n")
	return s, dist, filepath.Join(s.dir, "instances", "mi-1"), s.next("mi-1", StateReady)
}

func crash(t *testing.T, server Event) {
	t.Helper()
	if err := syscall.Kill(server.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// MI's secure vault deletes password-tmp at every start: the restart of
// a crashed server puts it back from mi_home (0600, as it was), or MI
// would ask for the keystore password on a terminal it does not have.
// A change made in mi_home meanwhile waits for a restart the user asks
// for: a crash restart is no reload.
func TestACrashRestartPutsBackWhatMIConsumedOnly(t *testing.T) {
	t.Parallel()
	const secret, conf = "password-tmp", "conf/log4j2.properties"
	s, dist, homeDir, ready := crashSite(t, func(dist string) {
		if err := os.WriteFile(filepath.Join(dist, secret), []byte("wso2carbon\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	if err := os.Remove(filepath.Join(homeDir, secret)); err != nil { // as MI does
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(homeDir, conf))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dist, conf), append(before, "# changed in mi_home\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	crash(t, ready)
	if ev := s.next("mi-1", eventHomeRestored, StateReady); ev.State != eventHomeRestored || !strings.HasSuffix(ev.Message, ": "+secret) {
		t.Fatalf("after the crash: %s; want %s put back", ev, secret)
	}
	s.next("mi-1", StateReady)
	if info, err := os.Stat(filepath.Join(homeDir, secret)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("%s after the crash restart: %v; want it back, 0600", secret, err)
	}
	if after, err := os.ReadFile(filepath.Join(homeDir, conf)); err != nil || string(after) != string(before) {
		t.Errorf("%s after the crash restart: %q, %v; want it as it was", conf, after, err)
	}
}

// A crash while mi_home is away (an upgrade unpacking the new one) starts
// the home as it is, saying what it could not put back: it neither waits
// for mi_home nor leaves the home half-written.
func TestACrashRestartWithoutMIHomeStartsTheHomeAsItIs(t *testing.T) {
	t.Parallel()
	s, dist, homeDir, ready := crashSite(t, func(dist string) {
		if err := os.WriteFile(filepath.Join(dist, "password-tmp"), []byte("wso2carbon\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	if err := os.Remove(filepath.Join(homeDir, "password-tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dist, dist+".old"); err != nil {
		t.Fatal(err)
	}
	crash(t, ready)
	if ev := s.next("mi-1", eventHomeRestoreFailed, StateStarting); ev.State != eventHomeRestoreFailed || !strings.Contains(ev.Message, dist) {
		t.Fatalf("after the crash: %s; want it to say %s could not be read", ev, dist)
	}
	if ev := s.next("mi-1", StateReady, StateBackoff); ev.State != StateReady {
		t.Fatalf("after the crash: %s; want the home started as it is", ev)
	}
}

// A simulated home's start script names the simulator of the mictl that
// wrote it. With that mictl moved away, the restart of a crashed server
// runs the simulator of the mictl running now; with none to run, it
// fails at once saying why and what to do, not after every restart the
// policy allows, each failing the same.
func TestACrashRestartAfterMictlMoved(t *testing.T) {
	// Not parallel: it sets the process's environment (t.Setenv).
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, mictlNow string
		restarts       bool
	}{
		{"another mictl runs", self, true},
		// The daemon's directory was renamed: the mictl that started it is
		// found beside it.
		{"the daemon's mictl moved with it", filepath.Join("/nonexistent/bin", filepath.Base(self)), true},
		{"none runs", "/nonexistent/bin/mictl", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := filepath.Join(t.TempDir(), "mictl")
			if err := os.Symlink(self, old); err != nil {
				t.Fatal(err)
			}
			t.Setenv(companion.EnvMictl, old) // the mictl that writes the homes
			s, _, homeDir, ready := crashSite(t, func(string) {})
			script, _ := os.ReadFile(filepath.Join(homeDir, home.StartScript))
			if program, _ := sim.ScriptProgram(string(script)); program != old {
				t.Fatalf("the home's script runs %q, want %q", program, old)
			}
			if err := os.Remove(old); err != nil {
				t.Fatal(err)
			}
			t.Setenv(companion.EnvMictl, tc.mictlNow)
			crash(t, ready)
			ev := s.next("mi-1", StateReady, StateFailed, StateStarting)
			if tc.restarts {
				if ev.State != StateStarting {
					t.Fatalf("after the crash: %s; want a start", ev)
				}
				if ev := s.next("mi-1", StateReady, StateBackoff); ev.State != StateReady {
					t.Fatalf("after the crash: %s; want it ready again", ev)
				}
				return
			}
			if ev.State != StateFailed || !strings.Contains(ev.Message, old+", which is gone") || !strings.Contains(ev.Message, "mictl up") {
				t.Fatalf("after the crash: %s; want failed at once, naming %s and the remedy", ev, old)
			}
		})
	}
}
