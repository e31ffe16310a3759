// Package goldentest compares test output with golden files, for tests
// only. Every package that keeps goldens shares its -update flag and its
// messages, so a changed golden always reads the same way.
package goldentest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// Update is the -update flag: rewrite the golden files from this run
// instead of comparing with them.
var Update = flag.Bool("update", false, "rewrite the golden files from this run")

// Check compares got with the file at path; with -update it first writes
// got there (making its directory). Pass an absolute path when the test
// may change directory before calling.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run the test with -update and review the diff if the change is intended):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
