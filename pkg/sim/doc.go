// Package sim is mictl's built-in WSO2 Micro Integrator simulator. It is
// shipped as an MI distribution, not as a special case, so the supervisor
// drives real and simulated servers through ONE code path
// (shared/MI-FACTS.md describes every behaviour imitated here).
//
// # The distribution
//
// WriteDist writes an MI_HOME-shaped tree whose bin/micro-integrator.sh is a
// plain POSIX sh script that behaves like MI's (see Script): CARBON_HOME
// from the environment or bin/.., tmp emptied once per start, a background
// diagnostics companion killed by the EXIT trap, the server run as a CHILD
// in a loop while it exits 121, exit status 0 whatever happened, and no
// signal traps (SIGTERM to the sh alone leaves the server running). The
// script runs `Exe ExeArgs... run "$@"` (the companion is a plain sleep);
// for mictl, MictlDistOptions gives Exe = mictl's own path and ExeArgs =
// ["sim"], so the cobra commands wire:
//
//	mictl sim dist DIR        → WriteDist(DIR, MictlDistOptions())
//	mictl sim run ARGS...     → os.Exit(Run(context.Background(), ARGS, os.Getenv, os.Stdout))   (hidden)
//	mictl sim --help          → print FaultVars
//
// # The server
//
// Run reads $CARBON_HOME/conf/deployment.toml (through pkg/deploytoml) and
// -DportOffset with MI's precedence, writes $CARBON_HOME/wso2carbon.pid and
// leaves it behind, opens the JMX-like random TCP port first (as the JVM's
// agent, before MI's main), then after MICTL_SIM_STARTUP_DELAY the
// pass-through HTTP and HTTPS listeners, logs "WSO2 Micro Integrator started
// in N.NN seconds", and only then the internal HTTP API (/healthz,
// /liveness) and the Management API (HTTPS, /management/login,
// /management/server). A port already taken is logged ("started on ...",
// then java.net.BindException) and skipped, never fatal. When
// conf/log4j2.properties enables the syslog appender it opens a UDP socket
// (protocol UDP) or an outgoing TCP connection (log4j2's default).
// Everything binds MICTL_SIM_BIND, else 0.0.0.0 as MI.
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
// hold memory, or make the script refuse to start like MI's JDK check.
package sim

import (
	"fmt"
	"os"
)

// MictlDistOptions returns the DistOptions of the running mictl binary:
// its absolute path and the "sim" subcommand.
func MictlDistOptions() (DistOptions, error) {
	exe, err := os.Executable()
	if err != nil {
		return DistOptions{}, fmt.Errorf("find the mictl executable for the simulator distribution: %w", err)
	}
	return DistOptions{Exe: exe, ExeArgs: []string{"sim"}}, nil
}
