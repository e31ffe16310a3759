package fsutil

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// SameBytes compares whole files, past its block size, and tells a
// difference in the last byte or in length.
func TestSameBytes(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("PK\x03\x04 jar "), 20000) // past one 64 KiB block
	last := bytes.Clone(big)
	last[len(last)-1] ^= 1
	for _, tc := range []struct {
		what string
		a, b []byte
		want bool
	}{
		{"empty", nil, nil, true},
		{"the same", big, bytes.Clone(big), true},
		{"the last byte", big, last, false},
		{"one longer", big, append(bytes.Clone(big), 'x'), false},
		{"one empty", nil, []byte("x"), false},
	} {
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		if err := os.WriteFile(a, tc.a, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(b, tc.b, 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := SameBytes(a, b); got != tc.want || err != nil {
			t.Errorf("%s: SameBytes = %v, %v; want %v", tc.what, got, err, tc.want)
		}
	}
	if _, err := SameBytes(filepath.Join(dir, "a"), filepath.Join(dir, "none")); err == nil {
		t.Error("SameBytes of a missing file: no error")
	}
}
