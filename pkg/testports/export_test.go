package testports

import (
	"testing"

	"github.com/mictl/mictl/pkg/hostnet"
)

// StubNoListeners has Base see no listener on the host for the rest of
// t: the tests of spans other processes hold count free spans exactly,
// whatever else runs on the host.
func StubNoListeners(t testing.TB) {
	real := listening
	listening = func() map[int][]hostnet.Socket { return nil }
	t.Cleanup(func() { listening = real })
}

// Bindable is bindable, for the tests that pick a port nothing holds.
var Bindable = bindable
