package cli

import (
	"testing"

	"github.com/mictl/mictl/pkg/appstate"
)

// Messages that name one instance or several agree with how many they
// name (pkg/words), each in its singular and its plural.
func TestMessagesAgreeWithTheirCount(t *testing.T) {
	failed := func(names ...string) appsReport {
		var r appsReport
		for _, n := range names {
			r.Instances = append(r.Instances, appstate.InstanceApps{Name: n, Error: ptr("refused")})
		}
		return r
	}
	tests := []struct{ got, want string }{
		{beyondNote([]string{"mi-3"}, "the 2 instances this up plans"), "mi-3 keeps running beyond the 2 instances this up plans: mictl down mi-3 stops it"},
		{beyondNote([]string{"mi-3", "mi-4"}, "the 2 instances this up plans"), "mi-3, mi-4 keep running beyond the 2 instances this up plans: mictl down mi-3 mi-4 stops them"},
		{unasked(failed("mi-1"), "why is above").Error(), "could not ask mi-1 for its applications (why is above)"},
		{unasked(failed("mi-1", "mi-2"), "why is above").Error(), "could not ask mi-1, mi-2 for their applications (why is above)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got  %q\nwant %q", tt.got, tt.want)
		}
	}
}
