// Package sim is mictl's built-in WSO2 Micro Integrator simulator. It is
// shipped as an MI distribution, not as a special case, so the supervisor
// drives real and simulated servers through ONE code path
// (docs/mi-facts.md describes every behaviour imitated here).
//
// # The distribution
//
// WriteDist writes an MI_HOME-shaped tree whose bin/micro-integrator.sh is a
// plain POSIX sh script that behaves like MI's (see Script): CARBON_HOME
// from the environment or bin/.., tmp emptied once per start, a background
// diagnostics companion killed by the EXIT trap, the server run as a CHILD
// in a loop while it exits 121, exit status 0 whatever happened, MI's
// command words (--stop signals the pid-file server, --restart, --start,
// --version), and no signal traps (SIGTERM to the sh alone leaves the
// server running). The
// script runs `Exe ExeArgs... run "$@"` (the companion is a plain sleep);
// for mictl, MictlDistOptions gives Exe = the lean simulator program
// (leanExe, cmd/mictl-sim) when it lies beside mictl, else mictl's own
// path with ExeArgs = ["sim"], so the commands wire:
//
//	mictl sim dist DIR        → WriteDist(DIR, MictlDistOptions())
//	mictl-sim run ARGS...     → os.Exit(Serve(ARGS, os.Stdout))
//	mictl sim run ARGS...     → the same (hidden)
//	mictl sim capp OUT.car    → capp.Build (sample CApps)
//	mictl sim --help          → print FaultVars
//
// # The server
//
// Run reads $CARBON_HOME/conf/deployment.toml (through pkg/deploytoml) and
// -DportOffset with MI's precedence, writes $CARBON_HOME/wso2carbon.pid and
// leaves it behind, opens the JMX-like random TCP port first (as the JVM's
// agent, before MI's main), then after MICTL_SIM_STARTUP_DELAY deploys the
// CApps, opens the pass-through HTTP and HTTPS listeners, logs "WSO2 Micro
// Integrator started in N.NN seconds", and only then the internal HTTP API
// (/healthz, /liveness, and /metric-service/metrics when MI's metrics are
// on) and the Management API (HTTPS). A port already taken is logged
// ("started on ...", then java.net.BindException) and skipped, never
// fatal. With -Desb.debug=true (or =super) it first waits, as MI's
// mediation debugger does, for a client on the debugger's command and then
// event port (conf/synapse.properties, else 9005 and 9006), up to
// MICTL_SIM_DEBUGGER_WAIT each, and keeps both open. When
// conf/log4j2.properties enables the syslog appender it opens a UDP socket
// (protocol UDP) or an outgoing TCP connection (log4j2's default).
// Everything binds MICTL_SIM_BIND, else 0.0.0.0 as MI. It logs
// to stdout and to repository/logs/wso2carbon.log, which rolls over daily
// to wso2carbon-MM-dd-yyyy.log as MI's CARBON_LOGFILE appender does.
//
// # Carbon Applications
//
// Every *.car in repository/deployment/server/carbonapps/ is read with
// pkg/capp and deployed at start, before "started in" and before /healthz
// can say ready; then, unless [server] hot_deployment = false, the
// directory is scanned every MICTL_SIM_DEPLOY_INTERVAL (MI: 15 s) or,
// with it unset, once each change to it settles (50 ms; watched with
// inotify, so an idle server does nothing; polled every second where it
// cannot be watched): a new
// file deploys, a changed one (size, time or inode) is undeployed and
// deployed again, a removed one undeployed, other files are ignored. As in
// MI (docs/mi-integrations.md, "Faulty applications"):
//   - a .car refused before its artifacts deploy (not a zip, no or bad
//     artifacts.xml or artifact.xml, a missing dependency, a name_version
//     already active) is only logged ("Error while deploying carbon
//     application <path>", "Carbon Application : X already exists. Two
//     applications can't have the same Id. Deployment aborted.");
//   - an artifact that fails to deploy (malformed API/proxy/inbound XML, a
//     port not in 1-65535, an inbound port in use, an API name or context
//     already served) makes the application faulty: "Error occurred while
//     deploying the Carbon application: <file>. Reverting ...", the
//     Management API's faultyList with MI's errorMessage, and /healthz 500
//     {"version","status":"not ready, faulty CAPPs detected","Faulty
//     CAPPs":[files]} for as long as it stays; /liveness stays 200.
//
// A deployed application's APIs are served on the pass-through ports at
// their context (GET <context>/fault answers 500, an error request), its
// proxy services at /services/<name>, and its inbound endpoints listen on
// their own ports: HTTP/HTTPS ones at the port plus the offset only with
// [mediation] inbound.port_offset_enable = true (or the synapse property
// inbound.port.offset.enable), WebSocket ones with ws.use.port.offset, the
// rest as written (capp.Inbound.Effective); a placeholder port is resolved
// first, $SYSTEM:NAME from the environment, $FILE:key from
// conf/file.properties. A port in use gets MI's
// warning "Port N used by inbound endpoint X is already used by another
// application hence undeploying inbound endpoint" and the application
// turns faulty; the server runs on. With no application deployed the
// pass-through ports answer any path with a small JSON body (the
// simulator's stand-in for MI's main sequence); with one, unknown paths are
// 404.
//
// Inbound endpoints kept as synapse files, outside any CApp, in
// repository/deployment/server/synapse-configs/default/inbound-endpoints/
// (*.xml) are deployed at start, before the CApps, as MI's synapse
// deployer does: their listeners open as a CApp's do, the Management API
// lists them, and a file that fails is logged ("Inbound Endpoint
// deployment from the file : <path> : Failed.") and left out. Later
// changes to that directory are not followed (MI's hot deployer would).
//
// # Management API
//
// On the internal HTTPS port: GET /management/login with basic auth
// admin/admin returns {"AccessToken"}; every other resource needs it as a
// bearer token (401 otherwise): /management/server, /management/applications
// (GET: totalCount, activeCount, activeList with artifacts, faultyCount,
// faultyList with errorMessage; ?carbonAppName=X; POST: one multipart .car,
// written into carbonapps/ for the next scan; DELETE
// /management/applications/{name}: removes carbonapps/{name}.car),
// /management/apis, /management/proxy-services and
// /management/inbound-endpoints ({"count","list"}).
//
// # Metrics
//
// With deployment.toml's [[synapse_handlers]] class = ports.MetricHandlerClass
// and -DenablePrometheusApi=true (JAVA_OPTS or arguments), the internal HTTP
// API serves MetricsPath in the Prometheus text format with MI's names,
// help texts, labels and buckets: wso2_integration_server_up,
// wso2_integration_server_version, wso2_integration_service_up, and per
// api/proxy/inbound_endpoint/data_service request_count_total,
// request_count_error_total and latency_seconds. Counts are real: requests
// to deployed APIs, proxies and inbound endpoints, plus (simulator only,
// so load moves the numbers on an empty server) requests answered by the
// pass-through stand-in, as an API named mictl-sim-passthrough. /healthz
// is not counted, as MI counts none of its internal API. MI's JVM
// metrics are not imitated.
//
// Signals: Run catches SIGTERM and SIGINT itself (so MICTL_SIM_IGNORE_SIGTERM
// can work) and ignores SIGPIPE like the JVM; on SIGTERM it logs MI's
// shutdown lines and returns 143 (128+15, the JVM's status after a SIGTERM),
// on SIGINT 130. The caller must not install its own signal-cancelled
// context around Run.
//
// # Fault injection
//
// Environment variables prefixed MICTL_SIM_ (FaultVars lists them with
// defaults) slow the start, delay or prevent readiness, crash with a given
// status, ignore SIGTERM, slow the shutdown, request one restart (exit 121),
// hold memory, shorten the debugger's wait, or make the script refuse to
// start like MI's JDK check.
package sim
