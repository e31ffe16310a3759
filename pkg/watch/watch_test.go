package watch

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// watchCount follows the given files with a new Watcher and returns a
// counter of onChange calls and a stop func that waits for Follow to
// return and closes the Watcher.
func watchCount(t *testing.T, files ...string) (*atomic.Int32, func()) {
	t.Helper()
	w, err := New()
	if err != nil {
		t.Fatal(err)
	}
	n, stop := follow(w, files...)
	return n, func() {
		stop()
		w.Close()
	}
}

// testDebounce is the quiet period of the tests' follows: long enough
// that a burst of writes stays one change on a loaded machine (a 50 ms
// one saw two when the writer was descheduled between writes).
const testDebounce = 200 * time.Millisecond

// follow runs w.Follow on files until the returned func, which waits for
// it to return.
func follow(w *Watcher, files ...string) (*atomic.Int32, func()) {
	var n atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Follow(ctx, func() []string { return files }, testDebounce, func() { n.Add(1) }, false)
	}()
	time.Sleep(50 * time.Millisecond) // let the watch be established
	return &n, func() {
		cancel()
		<-done
	}
}

func waitCount(t *testing.T, n *atomic.Int32, want int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(testDebounce + 100*time.Millisecond) // and no more than that
	if got := n.Load(); got != want {
		t.Fatalf("onChange called %d times, want %d", got, want)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEditorStyles: each way editors save a file is one call of
// onChange, however many events it makes, and the watch survives it.
func TestEditorStyles(t *testing.T) {
	// Each edit returns how long the writer was kept from writing between
	// two writes of a burst when that was long enough to end the quiet
	// period mid-burst (two calls then being right), else 0.
	tests := []struct {
		name string
		edit func(t *testing.T, path string) (spread time.Duration)
	}{
		{"write in place", func(t *testing.T, path string) time.Duration { write(t, path, "b"); return 0 }},
		{"temp and rename", func(t *testing.T, path string) time.Duration {
			tmp := filepath.Join(filepath.Dir(path), ".mictl.toml.swp")
			write(t, tmp, "c")
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			return 0
		}},
		{"delete and recreate", func(t *testing.T, path string) time.Duration {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			write(t, path, "d")
			return 0
		}},
		{"burst of writes", func(t *testing.T, path string) time.Duration {
			last := time.Now()
			for i := range 20 {
				write(t, path, string(rune('a'+i)))
				if gap := time.Since(last); gap > testDebounce/2 {
					return gap // a loaded machine spread the burst out
				}
				last = time.Now()
			}
			return 0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A burst the machine spread out is made again, up to three
			// times (two calls failed it under a loaded full run).
			for attempt := 1; ; attempt++ {
				spread := editsSeenOnce(t, tt.edit)
				if spread == 0 {
					return
				}
				if attempt == 3 {
					t.Fatalf("the writer was kept from writing for %s between two writes of a burst, three times: the machine is too loaded to make one", spread)
				}
			}
		})
	}
}

// editsSeenOnce makes edit on a watched file twice, and checks that each
// is one call of onChange and that the watch survives the first, unless
// edit says the machine spread it out (returned instead).
func editsSeenOnce(t *testing.T, edit func(t *testing.T, path string) time.Duration) (spread time.Duration) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mictl.toml")
	write(t, path, "a")
	n, stop := watchCount(t, path)
	defer stop()
	if spread := edit(t, path); spread > 0 {
		return spread
	}
	waitCount(t, n, 1) // one call, however many events
	// The watch survives the edit: a second edit is seen too.
	if spread := edit(t, path); spread > 0 {
		return spread
	}
	waitCount(t, n, 2)
	return 0
}

func TestOtherFilesInTheDirectoryAreIgnored(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mictl.toml")
	write(t, path, "a")
	n, stop := watchCount(t, path)
	defer stop()
	write(t, filepath.Join(dir, "notes.txt"), "x")
	waitCount(t, n, 0)
}

func TestFileCreatedLater(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mictl.toml")
	n, stop := watchCount(t, path)
	defer stop()
	write(t, path, "a")
	waitCount(t, n, 1)
}

func TestNoLeaks(t *testing.T) {
	fds := func() int {
		ents, _ := os.ReadDir("/proc/self/fd")
		return len(ents)
	}
	goroutines, before := runtime.NumGoroutine(), fds()
	path := filepath.Join(t.TempDir(), "mictl.toml")
	write(t, path, "a")
	for range 5 {
		_, stop := watchCount(t, path)
		stop()
	}
	deadline := time.Now().Add(2 * time.Second)
	for (runtime.NumGoroutine() > goroutines || fds() > before) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g, f := runtime.NumGoroutine(), fds(); g > goroutines || f > before {
		t.Fatalf("leak: goroutines %d -> %d, fds %d -> %d", goroutines, g, before, f)
	}
}

// inotifyInstances counts this process's inotify instances.
func inotifyInstances(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); target == "anon_inode:inotify" {
			n++
		}
	}
	return n
}

// A Watcher keeps its one inotify instance and its watches from one
// Follow to the next (letting either go waits for the kernel), and the
// next Follow tells what changed while none ran.
func TestFollowAgainKeepsTheInstanceAndTellsWhatChangedMeanwhile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mictl.toml")
	write(t, path, "a")
	before := inotifyInstances(t)
	w, err := New()
	if err != nil {
		t.Fatal(err)
	}
	_, stop := follow(w, path)
	stop()
	write(t, path, "b") // while nothing follows
	n, stop := follow(w, path)
	waitCount(t, n, 1)
	stop()
	if got := inotifyInstances(t); got != before+1 {
		t.Fatalf("%d inotify instances after two Follows of one Watcher, want %d", got, before+1)
	}
	w.Close()
}

// A Follow begins once the one before has returned, which may still be
// telling of a change when it is cancelled; with catchUp it then tells at
// once of what changed meanwhile, including a change made while the one
// before was still busy.
func TestFollowsTakeTurnsAndCatchUp(t *testing.T) {
	path, w := watchedFile(t)
	files := func() []string { return []string{path} }

	busy, release := make(chan struct{}, 1), make(chan struct{})
	ctxA, cancelA := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() {
		defer close(doneA)
		w.Follow(ctxA, files, 10*time.Millisecond, func() {
			busy <- struct{}{}
			<-release
		}, false)
	}()
	time.Sleep(50 * time.Millisecond) // let the watch be established
	write(t, path, "b")
	within(t, busy, "the first Follow to tell of a change") // it is telling of "b"
	cancelA()

	var told atomic.Int32
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	doneB := make(chan struct{})
	go func() {
		defer close(doneB)
		w.Follow(ctxB, files, 10*time.Millisecond, func() { told.Add(1) }, true)
	}()
	write(t, path, "c") // while the first is still busy
	time.Sleep(200 * time.Millisecond)
	if n := told.Load(); n != 0 {
		t.Fatalf("the second Follow told of %d changes while the first was still busy", n)
	}
	close(release)
	within(t, doneA, "the first Follow to return")
	// At least the catch-up; the events queued meanwhile may add a call.
	deadline := time.Now().Add(5 * time.Second)
	for told.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if told.Load() == 0 {
		t.Fatal("the second Follow did not catch up once the first had returned")
	}
	cancelB()
	within(t, doneB, "the second Follow to return")
}

// within fails the test unless ch is ready within 5 s.
func within[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("waited 5s for %s", what)
	}
}

// With catchUp a Follow tells once at its start, with nothing changed;
// without, it does not.
func TestFollowCatchUpTellsOnceAtTheStart(t *testing.T) {
	path, w := watchedFile(t)
	for _, catchUp := range []bool{true, false} {
		var told atomic.Int32
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.Follow(ctx, func() []string { return []string{path} }, time.Hour, func() { told.Add(1) }, catchUp)
		}()
		time.Sleep(200 * time.Millisecond)
		cancel()
		within(t, done, "Follow to return")
		if want := map[bool]int32{true: 1, false: 0}[catchUp]; told.Load() != want {
			t.Errorf("catchUp %v: told %d times, want %d", catchUp, told.Load(), want)
		}
	}
}

// watchedFile is a mictl.toml in a new directory and a Watcher, closed
// when the test ends, following nothing yet.
func watchedFile(t *testing.T) (string, *Watcher) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mictl.toml")
	write(t, path, "a")
	w, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return path, w
}

// A file reached through a symbolic link (mi_home -> wso2mi-4.3.0) is
// followed where the link leads now: replacing the link (an upgrade's `ln
// -sfn wso2mi-4.4.0 mi_home`) is a change, and from then on the new
// version's file is watched, not the old one's, whose watch inotify had
// taken through the link once and for good.
func TestFileThroughALinkFollowsTheLink(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"4.3.0", "4.4.0"} {
		if err := os.MkdirAll(filepath.Join(dir, "wso2mi-"+v, "conf"), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, "wso2mi-"+v, "conf", "deployment.toml"), "a")
	}
	link := filepath.Join(dir, "wso2mi")
	if err := os.Symlink("wso2mi-4.3.0", link); err != nil {
		t.Fatal(err)
	}
	n, stop := watchCount(t, filepath.Join(link, "conf", "deployment.toml"))
	defer stop()

	write(t, filepath.Join(dir, "wso2mi-4.3.0", "conf", "deployment.toml"), "b")
	waitCount(t, n, 1)
	tmp := filepath.Join(dir, ".wso2mi.tmp") // ln -sfn: a new link renamed over the old
	if err := os.Symlink("wso2mi-4.4.0", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	waitCount(t, n, 2)
	write(t, filepath.Join(dir, "wso2mi-4.4.0", "conf", "deployment.toml"), "b")
	waitCount(t, n, 3)
	write(t, filepath.Join(dir, "wso2mi-4.3.0", "conf", "deployment.toml"), "c")
	waitCount(t, n, 3)
}

// A file whose directory does not exist yet is followed from its nearest
// existing ancestor: the directory's making is a change, and the file,
// written after, is watched.
func TestFileInADirectoryMadeLater(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mi", "conf", "deployment.toml")
	n, stop := watchCount(t, file)
	defer stop()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	waitCount(t, n, 1) // mi/ made: followed one step nearer, then conf/ is there
	write(t, file, "a")
	waitCount(t, n, 2)
	write(t, file, "b")
	waitCount(t, n, 3)
}
