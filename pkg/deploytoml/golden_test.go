package deploytoml

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/goldentest"
)

const testdataDir = "../../testdata/deploytoml"

func intp(i int) *int { return &i }

type renderCase struct {
	name      string
	offset    *int
	overrides map[string]any
}

// renderCases are applied to every sample source.
var renderCases = []renderCase{
	{"offset-0", intp(0), nil},
	{"offset-37", intp(37), map[string]any{
		"server.hostname":                    "mi1.local",
		"transport.http.listener.port":       8300,
		"mediation.internal_http_api_enable": true,
	}},
	{"flag", nil, map[string]any{
		"mediation.internal_https_api_port":    9155,
		"transport.http.listener.secured_port": 8443,
		"mediation.internal.http_api_port":     int64(9192),
		"custom.tuning.threads":                42,
		"custom.tuning.ratio":                  0.75,
		"server.hostname":                      "quote\"d\\host",
		"server.aliases":                       []any{"a", "b"},
	}},
}

func sources(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testdataDir, "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample sources in %s: %v", testdataDir, err)
	}
	return files
}

// The built-in template must stay the one the goldens were made from.
func TestBuiltinSampleIsTemplate(t *testing.T) {
	goldentest.Check(t, filepath.Join(testdataDir, "builtin.toml"), Template())
}

func TestRenderGolden(t *testing.T) {
	for _, file := range sources(t) {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(filepath.Base(file), ".toml")
		for _, rc := range renderCases {
			t.Run(base+"/"+rc.name, func(t *testing.T) {
				out, err := Render(file, src, rc.offset, rc.overrides)
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				goldentest.Check(t, filepath.Join(testdataDir, base+"."+rc.name+".golden"), out)
				checkRendered(t, src, out, rc)
			})
		}
	}
}

// checkRendered asserts that out is src with only the keys of rc changed:
// it re-parses out, reads every set key back, and diffs the lines so that a
// golden file can never bless an unrelated change.
func checkRendered(t reporter, src, out []byte, rc renderCase) {
	t.Helper()
	sets := map[string]any{}
	for k, v := range rc.overrides {
		sets[k] = v
	}
	if rc.offset != nil {
		sets["server.offset"] = *rc.offset
	}
	srcDoc, err := Parse("src", src)
	if err != nil {
		t.Fatalf("%v", err)
	}
	outDoc, err := Parse("out", out)
	if err != nil {
		t.Fatalf("rendered file does not parse: %v", err)
	}
	for k, v := range sets {
		_, norm, err := encodeValue(v)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if got, ok := outDoc.Lookup(k); !ok || !sameValue(got, norm) {
			t.Errorf("Lookup(%s) = %v, %v; want %v", k, got, ok, norm)
		}
	}
	if rc.offset == nil {
		sv, sok := srcDoc.Lookup("server.offset")
		ov, ook := outDoc.Lookup("server.offset")
		if sok != ook || !sameValue(ov, sv) {
			t.Errorf("offset_method=flag changed server.offset: %v -> %v", sv, ov)
		}
	} else if off, ok, err := outDoc.Offset(); err != nil || !ok || off != *rc.offset {
		t.Errorf("Offset() = %d, %v, %v; want %d", off, ok, err, *rc.offset)
	}

	// Every other value reads back the same.
	before, after := toAny(srcDoc.root).(map[string]any), toAny(outDoc.root).(map[string]any)
	for k := range sets {
		parts, _ := splitPath(k)
		deletePath(before, parts)
		deletePath(after, parts)
	}
	if !sameTree(before, after) {
		t.Errorf("values other than the set keys changed:\nbefore %v\nafter  %v", before, after)
	}

	// Lines: the only removed lines are lines holding a set key's value (or
	// the inline table that receives a new key); each added line is the
	// same line with the new value, a new key line, a new header or a blank.
	srcLines := strings.Split(string(src), "\n")
	allowed := map[int]bool{}
	replaced := map[int]string{}    // source line -> expected new line, for plain value replacements
	inlineLines := map[int]string{} // source line -> its text up to the inline table's '{'
	lineStart := func(line int) int {
		off := 0
		for i := 0; i < line-1; i++ {
			off += len(srcLines[i]) + 1
		}
		return off
	}
	type repl struct {
		from, to int
		enc      string
	}
	perLine := map[int][]repl{}
	for k, v := range sets {
		parts, _ := splitPath(k)
		enc, _, _ := encodeValue(v)
		n := srcDoc.root
		for _, p := range parts {
			c, ok := n.children[p]
			if !ok {
				break
			}
			if c.kind == kTable && c.tk == tInline {
				l, _ := lineCol(src, c.vStart)
				if l2, _ := lineCol(src, c.vEnd); l2 != l {
					t.Fatalf("test sources must keep inline tables on one line (%s)", k)
				}
				allowed[l], inlineLines[l] = true, srcLines[l-1][:c.vStart-lineStart(l)]
			}
			n = c
		}
		if n.kind == kValue && slices.Equal(n.path, parts) {
			l1, _ := lineCol(src, n.vStart)
			l2, _ := lineCol(src, n.vEnd)
			if l1 != l2 {
				t.Fatalf("test sources must keep set values on one line (%s)", k)
			}
			allowed[l1] = true
			ls := lineStart(l1)
			perLine[l1] = append(perLine[l1], repl{n.vStart - ls, n.vEnd - ls, enc})
		}
	}
	for l, rs := range perLine {
		if _, ok := inlineLines[l]; ok {
			continue
		}
		slices.SortFunc(rs, func(a, b repl) int { return b.from - a.from })
		line := srcLines[l-1]
		for _, r := range rs {
			line = line[:r.from] + r.enc + line[r.to:]
		}
		replaced[l] = line
	}
	removed, added := diffLines(srcLines, strings.Split(string(out), "\n"))
	addedSet := map[string]int{}
	for _, a := range added {
		addedSet[a]++
	}
	for _, l := range removed {
		if !allowed[l] {
			t.Errorf("source line %d changed but holds no set key: %q", l, srcLines[l-1])
			continue
		}
		if prefix, ok := inlineLines[l]; ok {
			found := false
			for a, n := range addedSet {
				if n > 0 && strings.HasPrefix(a, prefix+"{") {
					addedSet[a]--
					found = true
					break
				}
			}
			if !found {
				t.Errorf("source line %d %q: no added line keeps its text before the inline table; added: %q", l, srcLines[l-1], added)
			}
		}
		if want, ok := replaced[l]; ok {
			if addedSet[want] == 0 {
				t.Errorf("source line %d %q: want it replaced by %q; added lines: %q", l, srcLines[l-1], want, added)
				continue
			}
			addedSet[want]--
		}
	}
	for a, n := range addedSet {
		if n == 0 {
			continue
		}
		s := strings.TrimSpace(a)
		switch {
		case s == "":
		case strings.HasPrefix(s, "["):
			hdr, err := splitPath(strings.Trim(s, "[]"))
			if err != nil || !prefixOfSome(hdr, sets) {
				t.Errorf("added header %q is not on a set key's path", a)
			}
		default:
			d, err := Parse("line", []byte(s))
			if err != nil {
				t.Errorf("added line %q does not parse: %v", a, err)
				continue
			}
			if !linesSetKey(d.root, nil, sets) {
				t.Errorf("added line %q sets no key of the case", a)
			}
		}
	}
}

// reporter is the part of testing.TB checkRendered uses, so a test can
// prove it catches bad output.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

func prefixOfSome(p []string, sets map[string]any) bool {
	for k := range sets {
		parts, _ := splitPath(k)
		if len(p) < len(parts) && slices.Equal(parts[:len(p)], p) {
			return true
		}
	}
	return false
}

// linesSetKey reports whether the one-line document rooted at n sets a key
// whose path is a suffix of a set key with the same value.
func linesSetKey(n *node, path []string, sets map[string]any) bool {
	for k, c := range n.children {
		p := append(slices.Clone(path), k)
		if c.kind == kTable && linesSetKey(c, p, sets) {
			return true
		}
		if c.kind != kValue {
			continue
		}
		for key, v := range sets {
			parts, _ := splitPath(key)
			_, norm, _ := encodeValue(v)
			if len(parts) >= len(p) && slices.Equal(parts[len(parts)-len(p):], p) && sameValue(c.val, norm) {
				return true
			}
		}
	}
	return false
}

func deletePath(m map[string]any, parts []string) {
	for i, p := range parts {
		if i == len(parts)-1 {
			delete(m, p)
			return
		}
		next, ok := m[p].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
}

// sameTree compares decoded trees, ignoring tables left empty by deletePath.
func sameTree(a, b map[string]any) bool {
	prune(a)
	prune(b)
	return sameValue([]any{a}, []any{b}) || equalMaps(a, b)
}

func prune(m map[string]any) bool {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok && prune(sub) {
			delete(m, k)
		}
	}
	return len(m) == 0
}

func equalMaps(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok {
			return false
		}
		am, aok := av.(map[string]any)
		bm, bok := bv.(map[string]any)
		if aok != bok {
			return false
		}
		if aok {
			if !equalMaps(am, bm) {
				return false
			}
		} else if !sameValue(bv, av) {
			return false
		}
	}
	return true
}

// diffLines returns the 1-based numbers of lines of a missing from b and
// the lines of b missing from a, by longest common subsequence.
func diffLines(a, b []string) (removed []int, added []string) {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			removed = append(removed, i+1)
			i++
		default:
			added = append(added, b[j])
			j++
		}
	}
	for ; i < n; i++ {
		removed = append(removed, i+1)
	}
	added = append(added, b[j:]...)
	return removed, added
}
