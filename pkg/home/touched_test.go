package home_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/home"
)

// mi_home pointed at a copy made by cp -r (not cp -a), the same bytes
// with new times, is the distribution as a cp -a one is: its files were
// each taken as changed (lib/README.txt in the event log and diff) and
// every instance restarted onto it. Behind compares such files by
// content, Follow records the copy with their new times, after which
// Behind answers from the list; a file whose bytes differ, at the same
// size, is still behind.
func TestACopyWithNewTimesIsTheSameDistribution(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	cp := func(to string) string { return copyWithNewTimes(t, src, to) }
	copied := cp("wso2mi-4.4.0-copy")
	same, err := home.ReadDistribution(copied)
	must(t, err)
	if behind, kept, _, err := same.Behind(dir); len(behind)+len(kept) > 0 || err != nil {
		t.Fatalf("Behind a cp -r copy: %q, kept %q, %v; want nothing", behind, kept, err)
	}
	if followed, err := same.Follow(dir, nil); !followed || err != nil {
		t.Fatalf("Follow of a cp -r copy: %v, %v; want it recorded", followed, err)
	}
	if got, _ := home.SyncedFrom(dir); got != copied {
		t.Errorf("after Follow the home says it was synced from %s; want %s", got, copied)
	}
	// Recorded: Behind no longer reads the copy's files. Bytes changed
	// under the same size and times, which a comparison would see, go
	// unseen as for any distribution (compared by size and time).
	jar := filepath.Join(copied, "lib", "a.jar")
	b := rewriteAsItWas(t, jar)
	if behind, kept, _, err := same.Behind(dir); len(behind)+len(kept) > 0 || err != nil {
		t.Errorf("Behind the followed copy: %q, kept %q, %v; want nothing, from the list", behind, kept, err)
	}
	must(t, os.WriteFile(jar, b, 0o644))

	// The same in place (mi_home unpacked again): recorded once, so that
	// no later look reads the files again.
	again, err := home.ReadDistribution(copied)
	must(t, err)
	if followed, err := again.Follow(dir, nil); !followed || err != nil {
		t.Errorf("Follow of the distribution written again as it was: %v, %v; want its times recorded", followed, err)
	}
	if followed, err := again.Follow(dir, nil); followed || err != nil {
		t.Errorf("Follow again: %v, %v; want nothing written", followed, err)
	}

	patched := cp("wso2mi-4.4.0-patched")
	must(t, os.WriteFile(filepath.Join(patched, "lib", "a.jar"), []byte(strings.ToUpper(string(b))), 0o644))
	other, err := home.ReadDistribution(patched)
	must(t, err)
	if behind, _, _, err := other.Behind(dir); !slices.Equal(behind, []string{"lib/a.jar"}) || err != nil {
		t.Errorf("Behind a copy whose jar changed at the same size: %q, %v; want lib/a.jar", behind, err)
	}
	if followed, err := other.Follow(dir, nil); followed || err != nil {
		t.Errorf("Follow of a copy whose jar changed: %v, %v; want the home left alone", followed, err)
	}
}

// copyWithNewTimes copies the distribution src as cp -r does, beside it
// as to, its times all later than src's.
func copyWithNewTimes(t *testing.T, src, to string) string {
	t.Helper()
	to = filepath.Join(filepath.Dir(src), to)
	if out, err := exec.Command("cp", "-r", src, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -r: %v: %s", err, out)
	}
	// Times cp gives its copy are now, but for a coarse clock: made
	// plainly later.
	later := time.Now().Add(time.Hour)
	must(t, filepath.Walk(to, func(path string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Chtimes(path, later, later)
		}
		return err
	}))
	return to
}

// Follow records what Behind found in the home, reading none of its
// files again while the home's list is the one Behind judged by: a
// reload compared every file of a touched distribution (on a real MI,
// hundreds of MB) once for Behind and again for Follow. Seen here by a
// jar whose bytes change after Behind, at the same size and times: taken
// as Behind found it, not read again.
func TestFollowTakesWhatBehindFound(t *testing.T) {
	src, dir := setup(t)
	if _, err := syncHome(src, dir); err != nil {
		t.Fatal(err)
	}
	copied := copyWithNewTimes(t, src, "wso2mi-4.4.0-copy")
	dist, err := home.ReadDistribution(copied)
	must(t, err)
	behind, kept, look, err := dist.Behind(dir)
	if len(behind)+len(kept) > 0 || look == nil || err != nil {
		t.Fatalf("Behind a cp -r copy: %q, kept %q, look %v, %v; want nothing, and what it found", behind, kept, look, err)
	}
	rewriteAsItWas(t, filepath.Join(copied, "lib", "a.jar"))
	if followed, err := dist.Follow(dir, look); !followed || err != nil {
		t.Errorf("Follow with what Behind found: %v, %v; want the copy recorded, its files not read again", followed, err)
	}
}

// rewriteAsItWas changes the bytes of the file at path, keeping its size
// and times, and returns what it held.
func rewriteAsItWas(t *testing.T, path string) []byte {
	t.Helper()
	info, err := os.Stat(path)
	must(t, err)
	b, err := os.ReadFile(path)
	must(t, err)
	must(t, os.WriteFile(path, []byte(strings.ToUpper(string(b))), 0o644))
	must(t, os.Chtimes(path, info.ModTime(), info.ModTime()))
	return b
}

// A file of a touched distribution is compared once with the file the
// homes link to, however many homes link to it: each home read both
// again. Seen here by a jar whose bytes change after the first home's
// look, at the same size and times: the second home, whose jar is the
// same file, is told what the first was.
func TestHomesLinkedToOneFileCompareItOnce(t *testing.T) {
	src, first := setup(t)
	second := filepath.Join(filepath.Dir(first), "mi-2")
	for _, dir := range []string{first, second} {
		if _, err := syncHome(src, dir); err != nil {
			t.Fatal(err)
		}
	}
	a, errA := os.Stat(filepath.Join(first, "lib", "a.jar"))
	b, errB := os.Stat(filepath.Join(second, "lib", "a.jar"))
	if errA != nil || errB != nil || !os.SameFile(a, b) {
		t.Fatalf("the homes' lib/a.jar are not one file: %v, %v", errA, errB)
	}
	copied := copyWithNewTimes(t, src, "wso2mi-4.4.0-copy")
	dist, err := home.ReadDistribution(copied)
	must(t, err)
	if behind, kept, _, err := dist.Behind(first); len(behind)+len(kept) > 0 || err != nil {
		t.Fatalf("Behind a cp -r copy: %q, kept %q, %v; want nothing", behind, kept, err)
	}
	rewriteAsItWas(t, filepath.Join(copied, "lib", "a.jar"))
	if behind, kept, _, err := dist.Behind(second); len(behind)+len(kept) > 0 || err != nil {
		t.Errorf("Behind of the second home: %q, kept %q, %v; want nothing, lib/a.jar compared for the first already", behind, kept, err)
	}
}
