package observe

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/state"
)

// Prober asks one running instance's internal HTTP API (/healthz,
// /liveness) over a connection it keeps from one probe to the next. The
// daemon keeps one per watched instance: a probe is then one write and
// one read, with no handshake, no goroutine of net/http's transport and
// no idle-connection timer, and a batch of them (ProbeAll) wakes the
// daemon about once. A Prober is used by one goroutine at a time.
type Prober struct {
	host string // the Host header: the address probed
	addr string
	conn net.Conn
	br   *bufio.Reader
	// reused is true when conn already answered a probe: a failure on it
	// may only mean the server closed it while idle, worth one retry.
	reused bool
}

// NewProber returns a Prober for inst's internal HTTP API; it connects
// at its first probe.
func NewProber(inst *state.Instance) *Prober {
	addr := probeAddr(inst.Bind, inst.Ports[ports.InternalHTTP])
	return &Prober{host: addr, addr: addr}
}

// Close drops the kept connection.
func (p *Prober) Close() {
	if p.conn != nil {
		p.conn.Close()
		p.conn, p.br, p.reused = nil, nil, false
	}
}

// ProbeTimeout bounds one probe, as the start's probes are bounded.
const ProbeTimeout = time.Second

// Paths of the internal HTTP API that say whether an instance is ready
// and whether it runs at all (MI-FACTS, "Health and management").
const (
	HealthPath   = "/healthz"
	LivenessPath = "/liveness"
)

// Answer is what an instance answered a probe with.
type Answer struct {
	Status int
	Body   []byte
	Err    error // the request failed: no status
}

// Health is what the answer to /healthz means (see Healthy).
func (a Answer) Health() error {
	if a.Err != nil {
		return a.Err
	}
	return healthOf(a.Status, a.Body)
}

// Liveness is what the answer to /liveness means (see Alive).
func (a Answer) Liveness() error {
	if a.Err != nil {
		return a.Err
	}
	return livenessOf(a.Status)
}

// Get asks path and waits for the answer.
func (p *Prober) Get(path string) Answer {
	return ProbeAll([]*Prober{p}, path)[0]
}

// lateLook is how long a receive that begins after its own deadline (an
// earlier prober of the batch kept the reader waiting) waits for an
// answer: it takes what the server sent in time, which is already there.
const lateLook = 10 * time.Millisecond

// ProbeAll asks every prober for path at once, then reads the answers in
// turn: the instances answer meanwhile, so most reads find their answer
// waiting. Each prober has ProbeTimeout from its own request, and one
// server that never answers fails no other's probe: the answers that
// came while the reader waited for it are taken (see lateLook), and a
// kept connection found closed is dialled again with ProbeTimeout of its
// own. No goroutine and no timer but the connections' deadlines.
func ProbeAll(probers []*Prober, path string) []Answer {
	out := make([]Answer, len(probers))
	sent := make([]error, len(probers))
	deadlines := make([]time.Time, len(probers))
	for i, p := range probers {
		deadlines[i] = time.Now().Add(ProbeTimeout)
		sent[i] = p.send(path, deadlines[i])
	}
	for i, p := range probers {
		if sent[i] == nil {
			out[i] = p.receive(deadlines[i])
		}
		if err := cmp.Or(sent[i], out[i].Err); err != nil && p.reused && !isTimeout(err) {
			// A kept connection the server closed while idle: once more
			// on a new one. A timeout is a server that did not answer.
			p.Close()
			deadline := time.Now().Add(ProbeTimeout)
			if err := p.send(path, deadline); err != nil {
				sent[i] = err
			} else {
				sent[i], out[i] = nil, p.receive(deadline)
			}
		}
		if sent[i] != nil {
			out[i] = Answer{Err: sent[i]}
		}
		if out[i].Err != nil {
			p.Close()
			err := withoutSource(out[i].Err)
			if isTimeout(err) {
				err = noAnswer{err}
			}
			out[i].Err = fmt.Errorf("GET http://%s%s: %w", p.host, path, err)
		}
	}
	return out
}

// noAnswer is a probe that timed out, in words: Go's "read tcp
// 127.0.0.1:9201: i/o timeout" was what status and the event log said
// of a hung server. The network error stays underneath (errors.As).
type noAnswer struct{ err error }

func (e noAnswer) Error() string { return fmt.Sprintf("no answer within %s", ProbeTimeout) }
func (e noAnswer) Unwrap() error { return e.err }

// withoutSource drops the local address from a network error: a new one
// at each probe, it made a hung server's reason (status, the event log)
// change at every check, each check then counting as a change (a degraded
// event every check, the checks never spaced out).
func withoutSource(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		op.Source = nil
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (p *Prober) send(path string, deadline time.Time) error {
	if p.conn == nil {
		d := net.Dialer{Deadline: deadline}
		conn, err := d.Dial("tcp", p.addr)
		if err != nil {
			return err
		}
		p.conn, p.br, p.reused = conn, bufio.NewReaderSize(conn, 4<<10), false
	}
	if err := p.conn.SetDeadline(deadline); err != nil {
		return err
	}
	_, err := io.WriteString(p.conn, "GET "+path+" HTTP/1.1\r\nHost: "+p.host+"\r\nUser-Agent: mictl\r\n\r\n")
	return err
}

// receive reads one answer and its (small) body; the connection is kept
// when the server keeps it.
// deadline is the probe's own; one already past (see ProbeAll) leaves
// lateLook to read what arrived meanwhile.
func (p *Prober) receive(deadline time.Time) Answer {
	if late := time.Now().Add(lateLook); deadline.Before(late) {
		if err := p.conn.SetReadDeadline(late); err != nil {
			return Answer{Err: err}
		}
	}
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		return Answer{Err: err}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil {
		return Answer{Err: err}
	}
	if resp.Close {
		p.Close()
	} else {
		// A deadline left set stays a runtime timer that fires
		// ProbeTimeout later and wakes the idle daemon for nothing
		// (twenty timers per round of checks).
		_ = p.conn.SetDeadline(time.Time{})
		p.reused = true
	}
	return Answer{Status: resp.StatusCode, Body: body}
}
