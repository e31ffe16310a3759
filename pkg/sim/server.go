package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mictl/mictl/pkg/ports"
)

// Management API credentials of a fresh MI (docs/mi-facts.md, "Health and management").
const (
	adminUser     = "admin"
	adminPassword = "admin"
)

// Run is the simulated Micro Integrator server (`mictl sim run ARGS...`):
// the process MI's start script runs as its child. args are the arguments
// the script handed on (e.g. -DportOffset=3); env reads the environment
// (CARBON_HOME, JAVA_OPTS, MICTL_SIM_*; nil means os.Getenv); stdout gets the
// console log. It returns the process exit status:
//
//	0        ctx was cancelled (a programmatic stop), after a graceful shutdown
//	128+sig  after a graceful shutdown on SIGTERM (143) or SIGINT (130), as the JVM
//	121      after MICTL_SIM_RESTART_ONCE: MI's restart request to its script
//	N        MICTL_SIM_CRASH_CODE after MICTL_SIM_CRASH_AFTER
//	1        it could not start (no CARBON_HOME, bad deployment.toml, JMX port taken)
//
// Signals: Run itself catches SIGTERM and SIGINT (signal.Notify) for as long
// as it runs, so the caller must not let those signals end the process (do
// not wrap ctx in signal.NotifyContext): MICTL_SIM_IGNORE_SIGTERM needs Run
// to see them. Pass context.Background() from a command.
func Run(ctx context.Context, args []string, env func(string) string, stdout io.Writer) int {
	start := time.Now()
	if env == nil {
		env = os.Getenv
	}
	if stdout == nil {
		stdout = io.Discard
	}
	home := env("CARBON_HOME")
	if home == "" {
		fmt.Fprintln(stdout, "[ERROR] CARBON_HOME is not set: run the simulator through bin/micro-integrator.sh")
		return 1
	}
	// Catch signals first: a SIGTERM during startup must not kill us unseen.
	// SIGPIPE is ignored as the JVM does, so a vanished reader of stdout
	// (a dead supervisor) fails the console writes, not the server.
	signal.Ignore(syscall.SIGPIPE)
	sigCh := make(chan os.Signal, 4)
	signal.Notify(sigCh, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigCh)

	f, err := parseFaults(env)
	if err != nil {
		fmt.Fprintf(stdout, "[ERROR] %v\n", err)
		return 1
	}
	s := &server{start: start, faults: f, log: newLogger(stdout, home), home: home, done: make(chan struct{}), inbounds: map[*inboundListener]struct{}{}, tokens: newTokenStore()}
	defer s.log.close()

	cfg, err := loadConfig(home, env, args)
	if err != nil {
		s.log.error("Main", "Error while starting WSO2 Micro Integrator: %v", err)
		return 1
	}
	s.cfg = cfg
	s.deployer = newDeployer(s)
	if cfg.metrics {
		s.metrics = newMetrics(cfg, start)
	}
	s.hold = holdMemory(f.holdMemory)
	defer runtime.KeepAlive(s.hold)

	// The JVM's JMX agent starts before MI's main and, when its port is
	// taken, the JVM does not start at all.
	if code := s.openJMX(stdout); code != 0 {
		return code
	}
	defer s.closeAll()

	s.log.info("Main", "Starting WSO2 Micro Integrator ...")
	// Written in place and not synced, as MI writes it: on a full disk
	// the old file's block is reused where a file written beside it and
	// renamed needs a new one, and failing, left a server that serves
	// with no pid for a supervisor to find (mictl then killed it as never
	// ready). After a reboot the pid means nothing anyway; a reader may
	// see the file empty or cut short for a moment, as MI's.
	if err := os.WriteFile(filepath.Join(home, PIDFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		s.log.warn("Main", "Could not write the process id file: %v", err)
	}
	s.openSyslog()

	var crashC, restartC <-chan time.Time
	if f.crashAfter >= 0 {
		crashC = time.After(f.crashAfter - time.Since(start))
	}
	marker := filepath.Join(home, TmpDir, restartMarkerName)
	if f.restartOnce >= 0 {
		if _, err := os.Lstat(marker); errors.Is(err, os.ErrNotExist) {
			restartC = time.After(f.restartOnce - time.Since(start))
		}
	}
	startupT := time.NewTimer(f.startupDelay - time.Since(start))
	defer startupT.Stop()
	var debuggerDone <-chan struct{}

	for {
		select {
		case <-startupT.C:
			if cfg.debugger {
				debuggerDone = s.awaitDebugger()
				continue
			}
			s.startListeners()
		case <-debuggerDone:
			debuggerDone = nil
			s.startListeners()
		case sig := <-sigCh:
			if f.ignoreTerm {
				s.log.warn("Main", "Received %v; ignored (%s)", sig, EnvIgnoreSIGTERM)
				continue
			}
			return s.shutdown(128 + int(sig.(syscall.Signal)))
		case <-ctx.Done():
			return s.shutdown(0)
		case <-crashC:
			s.log.error("Main", "Simulated crash (%s=%v): exiting with status %d", EnvCrashAfter, f.crashAfter, f.crashCode)
			return f.crashCode
		case <-restartC:
			restartC = nil
			os.MkdirAll(filepath.Dir(marker), 0o755)
			if err := os.WriteFile(marker, nil, 0o644); err != nil {
				s.log.warn("Main", "Could not write the restart marker %s: %v", marker, err)
			}
			s.log.info("Main", "Restarting WSO2 Micro Integrator (%s) ...", EnvRestartOnce)
			return s.shutdown(RestartExitCode)
		}
	}
}

type server struct {
	start  time.Time
	faults faults
	cfg    serverConfig
	log    *logger
	home   string
	hold   []byte

	deployer *deployer
	metrics  *metrics // nil: MI's metrics are off

	ready    atomic.Bool
	hung     atomic.Bool // the internal API answers nothing (MICTL_SIM_HANG_AFTER)
	mu       sync.Mutex
	closed   bool
	done     chan struct{} // closed by closeAll: background loops end
	inbounds map[*inboundListener]struct{}
	jmx      net.Listener
	lns      []net.Listener
	srvs     []*http.Server
	udp      net.PacketConn
	tcp      net.Conn
	certOnce sync.Once
	cert     *tls.Certificate
	certErr  error

	tokens *tokenStore
}

func holdMemory(n int64) []byte {
	if n <= 0 {
		return nil
	}
	b := make([]byte, n)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1 // touch every page so it counts in RSS
	}
	return b
}

// bindAddr is where a port is opened: MICTL_SIM_BIND, else 0.0.0.0 as MI.
func (s *server) bindAddr(port int) string {
	return net.JoinHostPort(s.faults.bind, strconv.Itoa(port))
}

func (s *server) openJMX(stdout io.Writer) int {
	ln, err := net.Listen("tcp", s.bindAddr(s.cfg.jmxPort))
	if err != nil {
		fmt.Fprintf(stdout, "Error: Exception thrown by the agent : java.rmi.server.ExportException: Port already in use: %d; nested exception is: \n\t%s\n", s.cfg.jmxPort, javaException(err))
		return 1
	}
	s.track(ln, nil)
	s.mu.Lock()
	s.jmx = ln
	s.mu.Unlock()
	go acceptAndClose(ln)
	return 0
}

// acceptAndClose holds a port for a protocol the simulator does not speak:
// connections are accepted and closed until ln is closed.
func acceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// openSyslog imitates log4j2's Syslog appender when log4j2.properties
// enables it: a UDP socket on a random local port with protocol UDP, else an
// outgoing TCP connection (log4j2's default), its failure logged.
func (s *server) openSyslog() {
	c := s.cfg.syslog
	if !c.enabled {
		return
	}
	if c.protocol == "UDP" {
		pc, err := net.ListenPacket("udp", s.bindAddr(0))
		if err != nil {
			s.log.error("DatagramSocketManager", "Could not open the syslog socket: %s", javaException(err))
			return
		}
		s.mu.Lock()
		s.udp = pc
		s.mu.Unlock()
		return
	}
	go func() {
		addr := net.JoinHostPort(c.host, strconv.Itoa(c.port))
		conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			s.log.error("TcpSocketManager", "TcpSocketManager (TCP:%s) caught exception and will continue: %s", addr, javaException(err))
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.tcp != nil || s.closed {
			conn.Close() // already shutting down
			return
		}
		s.tcp = conn
	}()
}

// awaitDebugger imitates MI's mediation debugger (-Desb.debug=true,
// SynapseDebugInterface): MI's start stops before Synapse initialises,
// so before any listener, while the debugger's command port and then its
// event port wait for their client, each up to the debugger wait (MI:
// 60 s). Both ports are opened first and stay open for the whole run,
// connected or not: MI keeps its server sockets. A port that cannot be
// bound, or a wait that ends with no client, is logged as MI logs it
// and the start goes on without the debugger. The returned channel is
// closed when the start may go on.
func (s *server) awaitDebugger() <-chan struct{} {
	done := make(chan struct{})
	command, event := s.cfg.debuggerCommand, s.cfg.debuggerEvent
	s.log.info("SynapseDebugInterface", "Listening on ports : Command %d - Event %d", command, event)
	go func() {
		defer close(done)
		var lns []*net.TCPListener
		for _, port := range []int{command, event} {
			ln, err := net.Listen("tcp", s.bindAddr(port))
			if err != nil {
				s.log.error("SynapseDebugInterface", "Failed create communication channels to the external debugger: %s", javaException(err))
				return
			}
			if !s.track(ln, nil) {
				return // shutting down
			}
			lns = append(lns, ln.(*net.TCPListener))
		}
		for _, ln := range lns {
			ln.SetDeadline(time.Now().Add(s.faults.debuggerWait))
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					s.log.error("SynapseDebugInterface", "Failed create communication channels to the external debugger: java.net.SocketTimeoutException: Accept timed out")
				}
				return
			}
			go func() { // the client stays connected until the server ends
				<-s.done
				c.Close()
			}()
		}
		s.log.info("SynapseDebugInterface", "Connection created to the external debugger")
	}()
	return done
}

func (s *server) startListeners() {
	p := s.cfg.ports
	// Inbound endpoints kept as synapse files, then CApps, deploy during
	// startup, before the server reports it started and before /healthz
	// can say ready (docs/mi-integrations.md).
	s.deployer.deploySynapseInbounds()
	s.deployer.scan()
	if s.cfg.hotDeployment {
		go s.deployer.loop(s.faults.deployEvery, s.done)
	}
	s.listen(p[ports.HTTP], "PassThroughHttpListener", "Pass-through HTTP Listener", "PassThroughListeningIOReactorManager", http.HandlerFunc(s.passthrough("http")), false)
	s.listen(p[ports.HTTPS], "PassThroughHttpSSLListener", "Pass-through HTTPS Listener", "PassThroughListeningIOReactorManager", http.HandlerFunc(s.passthrough("https")), true)
	// MI logs "started in" BEFORE its internal APIs listen (docs/mi-facts.md).
	s.log.info("StartupFinalizer", "WSO2 Micro Integrator started in %.2f seconds", time.Since(s.start).Seconds())
	if !s.cfg.internalAPI {
		s.ready.Store(!s.faults.neverReady)
		return
	}
	s.listen(p[ports.InternalHTTP], "InternalAPIHttpListener", "Internal HTTP API Listener", "InternalAPIHttpListener", s.internalMux(), false)
	s.listen(p[ports.Management], "InternalAPIHttpsListener", "Management API Listener", "InternalAPIHttpsListener", s.managementMux(), true)
	if s.faults.neverReady {
		return
	}
	time.AfterFunc(s.faults.readyDelay, func() {
		s.ready.Store(true)
		if s.faults.unreadyAfter >= 0 {
			time.AfterFunc(s.faults.unreadyAfter, func() { s.ready.Store(false) })
		}
		if s.faults.hangAfter >= 0 {
			time.AfterFunc(s.faults.hangAfter, func() { s.hung.Store(true) })
		}
	})
}

// listen opens one fixed port. As in MI a failure is not fatal: the
// "started on" line is logged anyway, then the BindException, and the server
// runs on without that listener (docs/mi-facts.md, "Start, stop, files").
func (s *server) listen(port int, class, what, errClass string, h http.Handler, useTLS bool) {
	addr := s.bindAddr(port)
	var ln net.Listener
	var err error
	if port < 0 || port > ports.MaxPort {
		err = fmt.Errorf("java.lang.IllegalArgumentException: port out of range:%d", port)
	} else {
		ln, err = net.Listen("tcp", addr)
	}
	s.log.info(class, "%s started on %s", what, addr)
	if err != nil {
		s.log.error(errClass, "Error starting %s on %s: %s", what, addr, javaException(err))
		return
	}
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 10 * time.Second}
	if useTLS {
		ln = tls.NewListener(ln, &tls.Config{GetCertificate: s.certificate, MinVersion: tls.VersionTLS12})
	}
	if !s.track(ln, srv) {
		return
	}
	go srv.Serve(ln)
}

// track records a listener (and its server) for closing; false when the
// server is already closing, after which ln has been closed.
func (s *server) track(ln net.Listener, srv *http.Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		ln.Close()
		return false
	}
	s.lns = append(s.lns, ln)
	if srv != nil {
		s.srvs = append(s.srvs, srv)
	}
	return true
}

// javaException renders a Go socket error as the java exception MI logs.
func javaException(err error) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "java.net.BindException: Address already in use"
	case errors.Is(err, syscall.EACCES):
		return "java.net.BindException: Permission denied"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "java.net.BindException: Cannot assign requested address"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "java.net.ConnectException: Connection refused"
	case strings.HasPrefix(err.Error(), "java."):
		return err.Error()
	}
	return "java.net.SocketException: " + err.Error()
}

func (s *server) shutdown(code int) int {
	s.log.info("Main", "Shutdown hook triggered....")
	s.log.info("Main", "Gracefully shutting down WSO2 Micro Integrator...")
	s.ready.Store(false)
	if d := s.faults.shutdownDelay; d > 0 {
		time.Sleep(d)
	}
	s.log.info("PassThroughHttpListener", "Stopping Pass-through HTTP Listener..")
	s.log.info("PassThroughHttpSSLListener", "Stopping Pass-through HTTPS Listener..")
	s.closeAll()
	s.log.info("Main", "Micro Integrator Shutdown complete")
	s.log.info("Main", "Halting JVM")
	return code
}

func (s *server) closeAll() {
	s.mu.Lock()
	if !s.closed {
		close(s.done)
	}
	s.closed = true
	lns, srvs := s.lns, s.srvs
	s.lns, s.srvs = nil, nil
	udp, tcp := s.udp, s.tcp
	s.udp, s.tcp = nil, nil
	var inbounds []*inboundListener
	for l := range s.inbounds {
		inbounds = append(inbounds, l)
	}
	s.mu.Unlock()
	for _, l := range inbounds {
		l.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, srv := range srvs {
		srv.Shutdown(ctx)
	}
	for _, ln := range lns {
		ln.Close()
	}
	if udp != nil {
		udp.Close()
	}
	if tcp != nil {
		tcp.Close()
	}
}

// certificate serves every HTTPS listener the same certificate, made at the
// first handshake rather than at startup: a key and a signature are most
// of a start's own work, and mictl's probes speak plain HTTP, so most
// starts never need one.
func (s *server) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.certOnce.Do(func() {
		cert, err := selfSigned()
		s.cert, s.certErr = &cert, err
	})
	return s.cert, s.certErr
}

// selfSigned makes a throw-away certificate for localhost, like MI's
// shipped wso2carbon keystore: clients must skip verification.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"WSO2 (mictl simulator)"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// internalMux is the internal HTTP API: /healthz and /liveness
// (docs/mi-integrations.md, "Health probes"), and MI's Prometheus metrics
// when they are on.
func (s *server) internalMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.hang(r) {
			return
		}
		// Not counted in the metrics, as MI counts none of its internal
		// API: mictl's own health checks would read as traffic (and as
		// errors, on a degraded server) in mictl top.
		status, body := s.readiness()
		writeJSON(w, status, body)
	})
	mux.HandleFunc("/liveness", func(w http.ResponseWriter, r *http.Request) {
		if s.hang(r) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"server": "started"})
	})
	if s.metrics != nil {
		mux.HandleFunc(MetricsPath, s.metrics.handler())
	}
	return mux
}

// hang holds a request of the internal API, while MICTL_SIM_HANG_AFTER
// has made the server hang, until its client leaves or the server shuts
// down; it reports whether it did.
func (s *server) hang(r *http.Request) bool {
	if !s.hung.Load() {
		return false
	}
	select {
	case <-r.Context().Done():
	case <-s.done:
	}
	return true
}

// readinessBody is MI's readiness answer (ReadinessResource), in its order.
type readinessBody struct {
	Version    string   `json:"version"`
	Status     string   `json:"status"`
	FaultyApps []string `json:"Faulty CAPPs,omitempty"`
}

// readiness is /healthz: 503 while the server is still deploying (or a
// fault keeps it unready), then 200 with MI's version, or 500 whenever an
// application is faulty, naming the faulty files.
func (s *server) readiness() (int, any) {
	if !s.ready.Load() {
		return http.StatusServiceUnavailable, map[string]string{"status": "not ready"}
	}
	if faulty := s.deployer.faulty(); len(faulty) > 0 {
		return http.StatusInternalServerError, readinessBody{Version: MIVersion, Status: "not ready, faulty CAPPs detected", FaultyApps: faulty}
	}
	return http.StatusOK, readinessBody{Version: MIVersion, Status: "ready"}
}
