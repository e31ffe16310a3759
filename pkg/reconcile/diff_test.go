package reconcile

import (
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	old := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"
	tests := []struct {
		name, new, want string
	}{
		{"one line changed", "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n", `--- x
+++ x (after reload)
@@ -2,7 +2,7 @@
 b
 c
 d
-e
+E
 f
 g
 h
`},
		{"line added at the end", old + "k\n", `--- x
+++ x (after reload)
@@ -8,3 +8,4 @@
 h
 i
 j
+k
`},
		{"two distant changes make two hunks", "A\nb\nc\nd\ne\nf\ng\nh\ni\nJ\n", `--- x
+++ x (after reload)
@@ -1,4 +1,4 @@
-a
+A
 b
 c
 d
@@ -7,4 +7,4 @@
 g
 h
 i
-j
+J
`},
		{"no change", old, "--- x\n+++ x (after reload)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unifiedDiff("x", []byte(old), []byte(tt.new)); got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestUnifiedDiffFromNothing(t *testing.T) {
	got := unifiedDiff("x", nil, []byte("a\nb\n"))
	if !strings.Contains(got, "@@ -0,0 +1,2 @@\n+a\n+b\n") {
		t.Fatalf("got:\n%s", got)
	}
}
