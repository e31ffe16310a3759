package observe

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// idleClosing serves /healthz on 127.0.0.1 the way a server with a short
// idle timeout does: one answer per connection, kept alive as far as the
// answer says, then the connection closed while idle. Its prober's kept
// connection is dead at every later round, and each probe is a re-dial.
func idleClosing(t *testing.T) string {
	t.Helper()
	return serve(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{\"status\":\"ready\"}"))
	})
}

// hung accepts on 127.0.0.1 and never answers (a stopped JVM: the kernel
// still completes the handshake and takes the request).
func hung(t *testing.T) string {
	t.Helper()
	block := make(chan struct{})
	addr := serve(t, func(net.Conn) { <-block })
	t.Cleanup(func() { close(block) }) // before serve's cleanup waits
	return addr
}

// serve runs handle on each connection a listener on 127.0.0.1 accepts,
// and closes the connection when handle returns.
func serve(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); handle(c) })
		}
	})
	return ln.Addr().String()
}

// One server that accepts and never answers fails its own probe only: the
// others' answers, waiting while its read times out, are taken, and their
// kept connections, closed while idle, are dialled again with time of
// their own (issue 3 of the 10-instance walkthrough: a SIGSTOPped server
// made every instance probed after it "degraded" with "dial tcp: i/o
// timeout").
func TestProbeAllHungServerFailsOnlyItself(t *testing.T) {
	addrs := []string{idleClosing(t), hung(t), idleClosing(t), idleClosing(t), hung(t), idleClosing(t)}
	probers := make([]*Prober, len(addrs))
	for i, addr := range addrs {
		probers[i] = &Prober{host: addr, addr: addr}
		defer probers[i].Close()
	}
	var answering []*Prober
	for i, p := range probers {
		if i != 1 && i != 4 {
			answering = append(answering, p)
		}
	}
	// Before the hang: connections kept, then closed while idle by the
	// servers, as MI's are between two checks.
	for i, a := range ProbeAll(answering, HealthPath) {
		if err := a.Health(); err != nil {
			t.Fatalf("answering server %d before the hang: %v", i, err)
		}
	}
	hungErrs := map[int]string{}
	for round := 1; round <= 2; round++ {
		for i, a := range ProbeAll(probers, HealthPath) {
			err := a.Health()
			if i == 1 || i == 4 { // the hung ones
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() || !strings.HasSuffix(err.Error(), ": no answer within 1s") {
					t.Errorf("round %d, hung server %d: %v; want a timeout, said as no answer within 1s", round, i, err)
				}
				// The same words every time (no local port): a reason
				// that changes counts as a change at every check.
				if before, ok := hungErrs[i]; ok && err.Error() != before {
					t.Errorf("hung server %d: %q, then %q", i, before, err)
				}
				hungErrs[i] = err.Error()
				continue
			}
			if err != nil {
				t.Errorf("round %d, answering server %d: %v", round, i, err)
			}
		}
	}
}
