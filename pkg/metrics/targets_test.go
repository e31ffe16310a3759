package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRenderTargets(t *testing.T) {
	got, err := renderTargets([]Target{
		{Name: "mi-2", Offset: 11, Host: "0.0.0.0", Port: 9202},
		{Name: "mi-1", Offset: 10, Host: "127.0.0.1", Port: 9201},
		{Name: "mi-3", Offset: 12, Host: "::", Port: 9203},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `[
  {
    "targets": [
      "127.0.0.1:9201"
    ],
    "labels": {
      "__metrics_path__": "/metric-service/metrics",
      "instance_name": "mi-1",
      "offset": "10"
    }
  },
  {
    "targets": [
      "127.0.0.1:9202"
    ],
    "labels": {
      "__metrics_path__": "/metric-service/metrics",
      "instance_name": "mi-2",
      "offset": "11"
    }
  },
  {
    "targets": [
      "[::1]:9203"
    ],
    "labels": {
      "__metrics_path__": "/metric-service/metrics",
      "instance_name": "mi-3",
      "offset": "12"
    }
  }
]
`
	if string(got) != want {
		t.Errorf("renderTargets =\n%s\nwant\n%s", got, want)
	}
	if empty, _ := renderTargets(nil); string(empty) != "[]\n" {
		t.Errorf("no targets render as %q, want an empty list", empty)
	}
	for _, bad := range [][]Target{
		{{Name: "mi-1", Port: 9201}, {Name: "mi-1", Port: 9202}},
		{{Name: "mi-1", Port: 0}},
	} {
		if _, err := renderTargets(bad); err == nil || !strings.Contains(err.Error(), "mi-1") {
			t.Errorf("renderTargets(%v) = %v, want an error naming mi-1", bad, err)
		}
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != targetsPerm {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), os.FileMode(targetsPerm))
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestTargetsWriterWritesOnlyChanges(t *testing.T) {
	dir := t.TempDir()
	w := NewTargetsWriter(dir)
	if w.Path() != filepath.Join(dir, "prometheus-targets.json") {
		t.Errorf("Path() = %s", w.Path())
	}
	one := []Target{{Name: "mi-1", Offset: 10, Host: "127.0.0.1", Port: 9201}}
	two := append(one, Target{Name: "mi-2", Offset: 11, Host: "127.0.0.1", Port: 9202})
	step := func(targets []Target, wantWritten bool) uint64 {
		t.Helper()
		written, err := w.Write(targets)
		if err != nil || written != wantWritten {
			t.Fatalf("Write(%d targets) = %v, %v; want written %v", len(targets), written, err, wantWritten)
		}
		return inode(t, w.Path())
	}
	first := step(one, true)
	if same := step(one, false); same != first {
		t.Error("the same targets replaced the file")
	}
	if step(two, true) == first {
		t.Error("new targets did not replace the file")
	}
	// A new daemon with the same instances leaves the file alone.
	w = NewTargetsWriter(dir)
	step(two, false)
	data, _ := os.ReadFile(w.Path())
	want, _ := renderTargets(two)
	if string(data) != string(want) {
		t.Errorf("file holds\n%s\nwant\n%s", data, want)
	}
}

func TestTargetsWriterError(t *testing.T) {
	w := NewTargetsWriter(filepath.Join(t.TempDir(), "missing"))
	if _, err := w.Write(nil); err == nil || !strings.Contains(err.Error(), "prometheus-targets.json") {
		t.Errorf("Write into a missing directory: %v, want an error naming the file", err)
	}
}

// BenchmarkTargetsWrite is the daemon's cost of an instance change: the
// file of 20 targets rendered and replaced (the bound: within
// 100 ms of the change).
func BenchmarkTargetsWrite(b *testing.B) {
	w := NewTargetsWriter(b.TempDir())
	targets := make([]Target, 20)
	for i := range targets {
		targets[i] = Target{Name: fmt.Sprintf("mi-%d", i+1), Offset: 10 + i, Host: "127.0.0.1", Port: 9201 + i}
	}
	for i := 0; b.Loop(); i++ {
		targets[0].Offset = i // a change every time
		if _, err := w.Write(targets); err != nil {
			b.Fatal(err)
		}
	}
}
