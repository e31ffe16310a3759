package sim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FaultVar documents one environment variable that shapes the simulator.
type FaultVar struct {
	Name    string // environment variable, prefix MICTL_SIM_
	Default string // value when unset ("" = off)
	What    string // one line for help and README
}

// The simulator's environment variables.
const (
	EnvBind            = "MICTL_SIM_BIND"
	EnvStartupDelay    = "MICTL_SIM_STARTUP_DELAY"
	EnvReadyDelay      = "MICTL_SIM_READY_DELAY"
	EnvNeverReady      = "MICTL_SIM_NEVER_READY"
	EnvUnreadyAfter    = "MICTL_SIM_UNREADY_AFTER"
	EnvHangAfter       = "MICTL_SIM_HANG_AFTER"
	EnvCrashAfter      = "MICTL_SIM_CRASH_AFTER"
	EnvCrashCode       = "MICTL_SIM_CRASH_CODE"
	EnvIgnoreSIGTERM   = "MICTL_SIM_IGNORE_SIGTERM"
	EnvShutdownDelay   = "MICTL_SIM_SHUTDOWN_DELAY"
	EnvRestartOnce     = "MICTL_SIM_RESTART_ONCE"
	EnvHoldMemory      = "MICTL_SIM_HOLD_MEMORY"
	EnvRefuseStart     = "MICTL_SIM_REFUSE_START"
	EnvDeployInterval  = "MICTL_SIM_DEPLOY_INTERVAL"
	EnvDebuggerWait    = "MICTL_SIM_DEBUGGER_WAIT"
	defaultStartup     = 300 * time.Millisecond
	restartMarkerName  = "mictl-sim-restarted"
	defaultCrashCode   = 1
	maxHoldMemoryBytes = 1 << 34
)

// debuggerWait is how long MI's mediation debugger waits for its client
// on each port (SynapseDebugInterface's SOCKET_TIMEOUT_INTERVAL).
const debuggerWait = 60 * time.Second

// FaultVars lists every MICTL_SIM_ variable, for `mictl sim --help` and the
// README. Durations use Go syntax ("300ms", "7s"); booleans accept
// 1/true/yes and 0/false/no; sizes accept a plain byte count or a K/M/G
// suffix (binary multiples, "64M" = "64MiB").
var FaultVars = []FaultVar{
	{EnvBind, "0.0.0.0", "address every listener binds, like MI's 0.0.0.0; mictl sets it from its host setting"},
	{EnvStartupDelay, "300ms", `time from "Starting WSO2 Micro Integrator" to the listeners and the "started in" line (real MI: 5s-10s)`},
	{EnvReadyDelay, "0s", `extra time /healthz answers 503 after the internal API opens (artifacts still deploying)`},
	{EnvNeverReady, "", "when true, /healthz answers 503 for ever"},
	{EnvUnreadyAfter, "", "/healthz turns 503 this long after it turned 200 (an artifact failing at run time)"},
	{EnvHangAfter, "", "/healthz and /liveness stop answering this long after /healthz turned 200 (a JVM stuck in a long pause; SIGTERM still shuts it down)"},
	{EnvCrashAfter, "", "exit abruptly this long after start, with MICTL_SIM_CRASH_CODE"},
	{EnvCrashCode, "1", "exit status of the MICTL_SIM_CRASH_AFTER crash"},
	{EnvIgnoreSIGTERM, "", "when true, SIGTERM and SIGINT are logged and ignored (only SIGKILL stops the server)"},
	{EnvShutdownDelay, "0s", "time a graceful shutdown takes between its first and last log line (MI >= 4.5 drains up to 180s)"},
	{EnvRestartOnce, "", "shut down and exit 121 (MI's restart request) this long after start, once per script start (marker in $CARBON_HOME/tmp)"},
	{EnvHoldMemory, "", "allocate and touch this much extra memory at start (e.g. 64M)"},
	{EnvRefuseStart, "", "when true, the start script prints MI's JDK-range [ERROR] line and exits 0 without starting a server"},
	{EnvDebuggerWait, "60s", "with -Desb.debug=true, how long the start waits for a debugger on its command port, then on its event port, before it goes on without one (as MI: 60s each; the ports stay open)"},
	{EnvDeployInterval, "", "how often hot deployment scans repository/deployment/server/carbonapps for .car files (real MI: every 15s); unset, it scans as soon as the directory changes (every 1s where it cannot be watched)"},
}

// faults is the parsed form of the MICTL_SIM_ variables the server reads.
type faults struct {
	bind          string
	startupDelay  time.Duration
	readyDelay    time.Duration
	neverReady    bool
	unreadyAfter  time.Duration // <0: off
	hangAfter     time.Duration // <0: off
	crashAfter    time.Duration // <0: off
	crashCode     int
	ignoreTerm    bool
	shutdownDelay time.Duration
	restartOnce   time.Duration // <0: off
	holdMemory    int64
	deployEvery   time.Duration // hot deployment scan interval; 0: on change
	debuggerWait  time.Duration // how long each debugger port waits for its client
}

// CheckFaults reports the MICTL_SIM_ variables of env a simulated server
// could not read, as the server would report them before it exits: mictl
// up checks them before it starts anything.
func CheckFaults(env func(string) string) error {
	_, err := parseFaults(env)
	return err
}

func parseFaults(env func(string) string) (faults, error) {
	f := faults{bind: "0.0.0.0", startupDelay: defaultStartup, unreadyAfter: -1, hangAfter: -1, crashAfter: -1, crashCode: defaultCrashCode, restartOnce: -1, debuggerWait: debuggerWait}
	var errs []string
	bad := func(name string, err error) {
		errs = append(errs, fmt.Sprintf("%s=%q: %v", name, env(name), err))
	}
	if v := strings.TrimSpace(env(EnvBind)); v != "" {
		f.bind = v
	}
	dur := func(name string, dst *time.Duration) {
		if v := strings.TrimSpace(env(name)); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				// time's own error ("time: invalid duration") says
				// nothing of what to write instead.
				bad(name, errors.New(`expected a duration of 0 or more with its unit, e.g. "30s" or "500ms"`))
				return
			}
			*dst = d
		}
	}
	boolean := func(name string, dst *bool) {
		if v := strings.TrimSpace(env(name)); v != "" {
			b, err := parseBool(v)
			if err != nil {
				bad(name, err)
				return
			}
			*dst = b
		}
	}
	dur(EnvStartupDelay, &f.startupDelay)
	dur(EnvReadyDelay, &f.readyDelay)
	boolean(EnvNeverReady, &f.neverReady)
	dur(EnvUnreadyAfter, &f.unreadyAfter)
	dur(EnvHangAfter, &f.hangAfter)
	dur(EnvCrashAfter, &f.crashAfter)
	if v := strings.TrimSpace(env(EnvCrashCode)); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 255 {
			bad(EnvCrashCode, errors.New("expected an exit status, a whole number from 0 to 255"))
		} else {
			f.crashCode = n
		}
	}
	boolean(EnvIgnoreSIGTERM, &f.ignoreTerm)
	dur(EnvShutdownDelay, &f.shutdownDelay)
	dur(EnvRestartOnce, &f.restartOnce)
	dur(EnvDebuggerWait, &f.debuggerWait)
	parsed := len(errs)
	dur(EnvDeployInterval, &f.deployEvery)
	if len(errs) == parsed && strings.TrimSpace(env(EnvDeployInterval)) != "" && f.deployEvery == 0 {
		bad(EnvDeployInterval, errors.New("must be above 0 (unset it to scan on every change)"))
	}
	if v := strings.TrimSpace(env(EnvHoldMemory)); v != "" {
		n, err := parseSize(v)
		if err != nil {
			bad(EnvHoldMemory, err)
		} else {
			f.holdMemory = n
		}
	}
	if len(errs) > 0 {
		return f, fmt.Errorf("invalid fault injection setting: %s", strings.Join(errs, "; "))
	}
	return f, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, errors.New("expected true or false (or 1, yes, on / 0, no, off)")
}

// parseSize reads "1048576", "512K", "64M", "64MiB", "64MB", "1G".
func parseSize(v string) (int64, error) {
	s := strings.ToUpper(strings.TrimSpace(v))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K':
			mult, s = 1<<10, s[:len(s)-1]
		case 'M':
			mult, s = 1<<20, s[:len(s)-1]
		case 'G':
			mult, s = 1<<30, s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("expected a size in bytes, or with a K, M or G suffix, e.g. 64M")
	}
	if n > maxHoldMemoryBytes/mult {
		return 0, fmt.Errorf("size above %d bytes", int64(maxHoldMemoryBytes))
	}
	return n * mult, nil
}
