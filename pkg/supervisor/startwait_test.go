package supervisor

import (
	"strings"
	"testing"
	"time"
)

// A start wait starts each instance as soon as its own ports are let go:
// mi-4, added on the old inbound port of mi-2, which lets go of it at its
// next scan, starts while mi-3 still waits for mi-1's, held still (a slow
// hot deployment scan). mi-4 waited, unstarted, until mi-1 let go too, or
// the wait ended (2 minutes).
func TestAStartWaitStartsEachAsItsPortsAreLetGo(t *testing.T) {
	t.Parallel()
	s := newSimSite(t, DefaultPolicy())
	toml := s.twoRunOrders()
	resume := s.holdStill("mi-1")
	s.car("orders_1.0.0.car", inboundCApp("orders", 8083))
	reloaded := s.reloadInBackground(strings.Replace(toml, "instances = 2", "instances = 4", 1))
	deadline := time.Now().Add(30 * time.Second)
	for got := s.sup.Instances([]string{"mi-4"})["mi-4"]; got.State != StateReady; got = s.sup.Instances([]string{"mi-4"})["mi-4"] {
		if time.Now().After(deadline) {
			t.Fatalf("mi-4 is %q 30s into the wait for mi-1; want it started (ready), its port let go by mi-2", got.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if mi3 := s.sup.Instances([]string{"mi-3"})["mi-3"]; mi3.Server.Alive() {
		t.Errorf("mi-3 is %s while mi-1 still holds its port; want it not started", mi3.State)
	}
	resume()
	if err := <-reloaded; err != nil {
		t.Fatalf("reload: %v", err)
	}
	for name, got := range s.sup.Instances([]string{"mi-3", "mi-4"}) {
		if got.State != StateReady {
			t.Errorf("%s is %s after the reload; want ready", name, got.State)
		}
	}
}
