package supervisor

import (
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/exitcode"
)

// A reload's wait for the CApps it changed, whose MI refuses mictl's
// login (management_password not the one MI takes), cannot tell whether
// MI took them: it ends with exit 3 saying so and what to check, as mictl
// apps and deploy --wait end for the same answer. It ended nil (mictl
// reload exited 0) of a CApp nobody could say MI runs.
func TestAwaitAppsMICannotBeAskedAboutIsNotSettled(t *testing.T) {
	s := newSimSite(t, DefaultPolicy())
	s.car("shop_1.0.0.car", capp.Spec{Name: "shop", APIs: []capp.APISpec{{Context: "/shop"}}})
	const refused = "management_password = \"not-the-password\"\n"
	s.reload("instances = 1\n" + refused)
	s.next("mi-1", StateReady)
	s.reload("instances = 1\n" + refused + "capps = [\"build/shop_1.0.0.car\"]\n")
	err := s.sup.AwaitApps(nil, siteTimeout, func(string) {})
	for _, want := range []string{
		"mictl could not ask MI whether it took the CApps the reload changed: mi-1: shop_1.0.0: cannot tell: ",
		"HTTP 401",
		"mictl apps mi-1 shows what MI runs",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("AwaitApps with MI refusing the login ended with %v, want it to say %q", err, want)
		}
	}
	if code := exitcode.Of(err); code != exitcode.Runtime {
		t.Errorf("AwaitApps' error exits %d, want %d", code, exitcode.Runtime)
	}
}
