package sim

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/ports"
)

// What the pass-through ports and inbound endpoints serve: the deployed
// applications' APIs (at their context), proxy services (at
// /services/<name>) and inbound endpoints (on their own ports), each
// counted in the metrics. An application's services are served from the
// moment it is deployed until it is undeployed.

// simPassthroughService is the simulator's stand-in, counted as an API so
// that load moves the metrics on a server with no application (real MI
// counts only deployed services): the requests the pass-through ports
// answer with no application deployed.
const simPassthroughService = "mictl-sim-passthrough"

// faultPath is the path below an API's context that answers 500 and counts
// as an error request, so tests and benchmarks can move the error counters.
const faultPath = "/fault"

// route finds the API whose context holds path (the longest one), else the
// proxy service /services/<name> names.
func (d *deployer) route(path string) (api apiService, proxy string, ok bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	best := -1
	for _, dep := range d.apps {
		for _, a := range dep.apis {
			ctx := strings.TrimSuffix(a.context, "/")
			if (path == a.context || ctx == "" || path == ctx || strings.HasPrefix(path, ctx+"/")) && len(ctx) > best {
				api, best = a, len(ctx)
			}
		}
	}
	if best >= 0 {
		return api, "", true
	}
	if rest, found := strings.CutPrefix(path, "/services/"); found {
		name, _, _ := strings.Cut(rest, "/")
		for _, dep := range d.apps {
			for _, p := range dep.proxies {
				if p == name {
					return apiService{}, p, true
				}
			}
		}
	}
	return apiService{}, "", false
}

// passthrough serves the pass-through HTTP or HTTPS listener.
func (s *server) passthrough(listener string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		api, proxy, ok := s.deployer.route(r.URL.Path)
		switch {
		case ok && proxy != "":
			writeJSON(w, http.StatusOK, map[string]any{"proxy": proxy, "method": r.Method, "path": r.URL.Path})
			s.metrics.observe(serviceProxy, []string{proxy, serviceProxy}, time.Since(start), false)
		case ok:
			url := s.serviceURL(listener, api.context)
			status := http.StatusOK
			if strings.HasSuffix(r.URL.Path, faultPath) {
				status = http.StatusInternalServerError
				writeJSON(w, status, map[string]string{"Error": "simulated fault of API " + api.name})
			} else {
				writeJSON(w, status, map[string]any{"api": api.name, "context": api.context, "method": r.Method, "path": r.URL.Path})
			}
			s.metrics.observe(serviceAPI, []string{api.name, serviceAPI, url}, time.Since(start), status >= 500)
		case s.deployer.anyActive():
			writeJSON(w, http.StatusNotFound, map[string]string{"Error": "No API or proxy service deployed at " + r.URL.Path})
		default:
			writeJSON(w, http.StatusOK, map[string]any{
				"server": "WSO2 Micro Integrator (mictl simulator)", "listener": listener,
				"method": r.Method, "path": r.URL.Path,
			})
			s.metrics.observe(serviceAPI, []string{simPassthroughService, serviceAPI, s.serviceURL(listener, "/")}, time.Since(start), false)
		}
	}
}

// serviceURL is how MI's metrics name an API's invocation URL: the
// listener's service prefix and the context (MetricHandler).
func (s *server) serviceURL(listener, context string) string {
	port := s.cfg.ports[ports.HTTP]
	if listener == "https" {
		port = s.cfg.ports[ports.HTTPS]
	}
	return fmt.Sprintf("%s://%s:%d/%s", listener, s.cfg.hostname, port, strings.TrimPrefix(context, "/"))
}

// inboundListener is one inbound endpoint's own listener.
type inboundListener struct {
	s              *server
	name, protocol string
	port           int
	ln             net.Listener
	srv            *http.Server // nil for protocols the simulator does not speak
}

func (l *inboundListener) close() {
	l.s.mu.Lock()
	delete(l.s.inbounds, l)
	l.s.mu.Unlock()
	if l.srv != nil {
		l.srv.Close()
	}
	l.ln.Close()
}

// openInbound starts an inbound endpoint's listener on the port MI would
// bind (its OffsetRule; a placeholder resolved first). A port already in
// use fails the endpoint with MI's lines (InboundHttpListener.init) and the
// error the deployer fails the application with.
func (s *server) openInbound(in capp.Inbound) (*inboundListener, error) {
	if in.AtRunTime() {
		var err error
		if in.Port, err = s.resolvePort(in); err != nil {
			return nil, err
		}
	}
	port := in.Effective(s.cfg.offset, s.cfg.inboundPortOffset)
	ln, err := net.Listen("tcp", s.bindAddr(port))
	if err != nil {
		class := "InboundHttpListener"
		if strings.HasPrefix(in.Protocol, "ws") {
			class = "InboundWebsocketListener"
		}
		s.log.warn(class, "Port %d used by inbound endpoint %s is already used by another application hence undeploying inbound endpoint", port, in.Name)
		s.log.error("InboundEndpoint", "Error initializing inbound endpoint %s", in.Name)
		return nil, fmt.Errorf("Error initializing inbound endpoint %s: Port %d used by inbound endpoint %s is already used by another application.", in.Name, port, in.Name)
	}
	l := &inboundListener{s: s, name: in.Name, protocol: in.Protocol, port: port, ln: ln}
	// Registered with the server, so a shutdown racing a scan closes it.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil, fmt.Errorf("the server is shutting down")
	}
	s.inbounds[l] = struct{}{}
	s.mu.Unlock()
	switch in.Protocol {
	case "https", "wss":
		ln = tls.NewListener(ln, &tls.Config{GetCertificate: s.certificate, MinVersion: tls.VersionTLS12})
		fallthrough
	case "http", "ws":
		l.srv = &http.Server{Handler: s.inboundHandler(in), ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 10 * time.Second}
		go l.srv.Serve(ln)
	default:
		go acceptAndClose(ln) // HL7, WS-RM and other listeners
	}
	return l, nil
}

// inboundHandler answers every request to an HTTP-speaking inbound
// endpoint, as the sequence it injects into would, and counts it.
func (s *server) inboundHandler(in capp.Inbound) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		writeJSON(w, http.StatusOK, map[string]any{"inboundEndpoint": in.Name, "protocol": in.Protocol, "method": r.Method, "path": r.URL.Path})
		s.metrics.observe(serviceInbound, []string{in.Name, serviceInbound}, time.Since(start), false)
	}
}
