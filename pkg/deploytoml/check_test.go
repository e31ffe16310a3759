package deploytoml

import (
	"fmt"
	"strings"
	"testing"
)

type recorder struct{ msgs []string }

type fatal struct{}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(fatal{})
}

func runCheck(src, out string, rc renderCase) (msgs []string) {
	r := &recorder{}
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(fatal); !ok {
				panic(v)
			}
		}
		msgs = r.msgs
	}()
	checkRendered(r, []byte(src), []byte(out), rc)
	return r.msgs
}

// The line checker behind the golden tests must reject output that a
// careless -update would otherwise bless.
func TestCheckRenderedCatchesBadOutput(t *testing.T) {
	src := "# top\n[server]\nhostname = \"h\" # name\n#offset = 10\n\n[mediation]\nx = 1\n"
	rc := renderCase{offset: intp(3), overrides: map[string]any{"server.hostname": "n"}}
	good, err := Render("src", []byte(src), rc.offset, rc.overrides)
	if err != nil {
		t.Fatal(err)
	}
	if msgs := runCheck(src, string(good), rc); len(msgs) > 0 {
		t.Fatalf("good output rejected: %q", msgs)
	}
	bad := map[string]string{
		"comment lost":         strings.Replace(string(good), "# top\n", "", 1),
		"trailing comment":     strings.Replace(string(good), ` # name`, "", 1),
		"other value changed":  strings.Replace(string(good), "x = 1", "x = 2", 1),
		"spacing changed":      strings.Replace(string(good), "[mediation]", "[ mediation ]", 1),
		"blank line dropped":   strings.Replace(string(good), "\n\n", "\n", 1),
		"unrelated line added": string(good) + "y = 2\n",
		"wrong offset":         strings.Replace(string(good), "offset = 3", "offset = 4", 1),
	}
	for name, out := range bad {
		if out == string(good) {
			t.Fatalf("%s: tampering did nothing", name)
		}
		if msgs := runCheck(src, out, rc); len(msgs) == 0 {
			t.Errorf("%s: bad output accepted:\n%s", name, out)
		}
	}
}
