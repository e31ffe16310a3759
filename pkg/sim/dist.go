package sim

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/fsutil"
)

// Paths inside a distribution (and inside every instance home cloned from
// one), relative to MI_HOME / CARBON_HOME.
const (
	ScriptPath     = "bin/micro-integrator.sh"
	DeployTOMLPath = "conf/deployment.toml"
	Log4j2Path     = "conf/log4j2.properties"
	LogDir         = "repository/logs"
	LogPath        = "repository/logs/wso2carbon.log"
	TmpDir         = "tmp"
	LibDir         = "lib"
	VersionPath    = "VERSION"
	PIDFile        = "wso2carbon.pid"
)

// MIVersion is the Micro Integrator release the simulator imitates.
const MIVersion = "4.4.0"

// distMarker is the first line of VERSION; it is how WriteDist and isDist
// tell a simulator distribution from any other directory.
const distMarker = "WSO2 Micro Integrator " + MIVersion + " (mictl simulator distribution)"

// RestartExitCode is the exit status with which MI asks its start script to
// start java again (docs/mi-facts.md, "Start, stop, files": the loop on 121).
const RestartExitCode = 121

// DistOptions says which program the distribution's script runs.
type DistOptions struct {
	// Exe is the absolute path of the program that runs the simulator:
	// mictl itself, or a test binary in tests. It is recorded in the script.
	Exe string
	// ExeArgs are the arguments before the subcommand: ["sim"] for mictl, so
	// the script runs `Exe sim run "$@"`.
	ExeArgs []string
}

// DirTakenError is a directory WriteDist will not write into: a file is
// there (or above it), or it holds something else than a simulator
// distribution. The user chose it (an argument, instances_dir), and
// chooses another.
type DirTakenError struct {
	Dir string
	Why string
}

func (e *DirTakenError) Error() string {
	return fmt.Sprintf("write simulator distribution %s: %s; choose an empty or new directory", e.Dir, e.Why)
}

// WriteDist writes an MI_HOME-shaped simulator distribution into dir:
//
//	bin/micro-integrator.sh      0755, runs Exe ExeArgs... run "$@" (see Script)
//	conf/deployment.toml         0600, deploytoml.Template() (it holds passwords)
//	conf/log4j2.properties       0644, syslog appender present but commented out
//	repository/logs/             empty
//	repository/deployment/server/carbonapps/   empty: CApps (.car) go here
//	tmp/                         empty
//	lib/README.txt               0444, the read-only part (homes may hard-link it)
//	VERSION                      0644, marks the directory as a simulator dist
//
// dir may be missing, empty, or an existing simulator distribution; any
// other non-empty directory is refused so that a real MI_HOME or a user's
// directory is never written into. On an existing distribution the script,
// lib/ and VERSION are brought up to date (the recorded Exe may have moved)
// while the conf/ files are only created when missing (or empty), so a
// user's edits survive.
//
// A file that already holds what it should is not touched: every mictl up
// calls WriteDist, and a rewritten script would have a new modification
// time that makes every home copy it again. Files are replaced atomically;
// all but VERSION are not fsynced, as the next call makes any of them again.
func WriteDist(dir string, opts DistOptions) error {
	if opts.Exe == "" {
		return errors.New("write simulator distribution: no simulator executable given")
	}
	if !filepath.IsAbs(opts.Exe) {
		return fmt.Errorf("write simulator distribution: executable %q is not an absolute path", opts.Exe)
	}
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case errors.Is(err, syscall.ENOTDIR):
		return &DirTakenError{Dir: dir, Why: fsutil.FileInTheWay(dir) + " is a file"}
	case err != nil:
		return fmt.Errorf("write simulator distribution %s: cannot read it: %w; choose a directory you can write", dir, fsutil.Cause(err))
	case len(ents) > 0 && !IsDist(dir):
		return &DirTakenError{Dir: dir, Why: "the directory holds files and is no simulator distribution"}
	}
	for _, d := range []string{"bin", "conf", LogDir, TmpDir, LibDir, CarbonAppsDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			// The directory that could not be made, in words ("mkdir
			// /proc/x: no such file or directory" named Go's call).
			at := filepath.Join(dir, d)
			var pe *fs.PathError
			if errors.As(err, &pe) {
				at = pe.Path
			}
			return fmt.Errorf("write simulator distribution %s: cannot create %s: %w; choose a directory you can write", dir, at, fsutil.Cause(err))
		}
	}
	// VERSION first, and durably: it is what makes the directory one to
	// write into again, so an interrupted first write can be completed.
	files := []struct {
		path    string
		data    []byte
		perm    os.FileMode
		onlyNew bool
		write   func(path string, data []byte, perm os.FileMode) error
	}{
		{VersionPath, []byte(distMarker + "\n"), 0o644, false, fsutil.WriteFileAtomic},
		{ScriptPath, []byte(Script(opts)), 0o755, false, fsutil.ReplaceFile},
		{DeployTOMLPath, deploytoml.Template(), 0o600, true, fsutil.ReplaceFile},
		{Log4j2Path, []byte(log4j2Template), 0o644, true, fsutil.ReplaceFile},
		{filepath.Join(LibDir, "README.txt"), []byte(libReadme), 0o444, false, fsutil.ReplaceFile},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if info, err := os.Lstat(p); err == nil {
			// An empty file is what a power failure may leave of a
			// replaced one: never a user's edit of an MI configuration.
			if f.onlyNew && info.Size() > 0 {
				continue
			}
			if fsutil.Holds(p, f.data, f.perm) {
				continue
			}
		}
		if err := f.write(p, f.data, f.perm); err != nil {
			return fmt.Errorf("write simulator distribution: %w", err)
		}
	}
	return nil
}

// IsDist reports whether dir holds a simulator distribution written by
// WriteDist (its VERSION file carries the simulator's marker line).
func IsDist(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, VersionPath))
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return first == distMarker
}

// shQuote quotes s for POSIX sh: single quotes, with each ' written '\”.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Script returns the text of bin/micro-integrator.sh for opts. It behaves
// like MI's own script (docs/mi-facts.md, "Start, stop, files"):
//   - plain POSIX sh; CARBON_HOME from the environment when set, else bin/..;
//   - the command words start, stop, restart and version (also as -word and
//     --word) act as MI's do: start and restart run the script again in the
//     background with nohup, stop and restart send SIGTERM to the pid in
//     wso2carbon.pid (restart waits for it to end), version prints VERSION,
//     and each then exits 0 (WSO2's systemd unit and container hooks run
//     "--stop");
//   - MICTL_SIM_REFUSE_START imitates the JDK range check: an [ERROR] line
//     and exit 0 without starting a server;
//   - empties $CARBON_HOME/tmp once per start (not per java restart);
//   - starts the diagnostics companion in the background and kills it from
//     its EXIT trap (MI >= 4.3);
//   - runs the server as a CHILD (no exec), handing on every argument, again
//     and again while it exits 121; and exits 0 whatever the server did.
//
// The script sets no signal traps, so a SIGTERM to the sh alone kills the sh
// and leaves the server and the companion running, as with real MI.
func Script(opts DistOptions) string {
	words := []string{shQuote(opts.Exe)}
	for _, a := range opts.ExeArgs {
		words = append(words, shQuote(a))
	}
	cmd := strings.Join(words, " ")
	return strings.NewReplacer("@SIM_CMD@", cmd, "@PID_FILE@", PIDFile, "@VERSION_PATH@", VersionPath).Replace(scriptTemplate)
}

// simulatorLine begins the line of Script's text that names the program
// it runs (see ScriptProgram).
const simulatorLine = "# The simulator is "

// ScriptProgram is the program the simulator's start script script (the
// text of a bin/micro-integrator.sh, see Script) runs; ok is false for
// any other script, a real MI's among them.
func ScriptProgram(script string) (program string, ok bool) {
	for line := range strings.Lines(script) {
		if words, found := strings.CutPrefix(line, simulatorLine); found {
			return shUnquoteFirst(words)
		}
	}
	return "", false
}

// GoneProgram is the simulator program that the start script of dir (a
// simulator distribution, or a home cloned from one) runs when that
// program is gone, as a mictl copied elsewhere with the old copy removed
// leaves it; "" otherwise: a program that is there, a real MI's script,
// or no script.
func GoneProgram(dir string) string {
	script, err := os.ReadFile(filepath.Join(dir, ScriptPath))
	if err != nil {
		return ""
	}
	if program, ok := ScriptProgram(string(script)); ok && !fsutil.Exists(program) {
		return program
	}
	return ""
}

// shUnquoteFirst is the first word of words, quoted as shQuote quotes.
func shUnquoteFirst(words string) (string, bool) {
	var b strings.Builder
	for strings.HasPrefix(words, "'") {
		end := strings.IndexByte(words[1:], '\'')
		if end < 0 {
			return "", false
		}
		b.WriteString(words[1 : 1+end])
		words = words[2+end:]
		rest, escaped := strings.CutPrefix(words, `\'`)
		if !escaped {
			return b.String(), b.Len() > 0
		}
		b.WriteByte('\'')
		words = rest
	}
	return "", false
}

const scriptTemplate = `#!/bin/sh
# ----------------------------------------------------------------------------
# Start script of mictl's simulated WSO2 Micro Integrator, generated by
# "mictl sim dist". It behaves like MI's bin/micro-integrator.sh: the server
# runs as a child of this script, in a loop while it exits 121 (MI's restart
# request), and the script's own exit status is 0 whatever the server did.
#
# Environment:
#   CARBON_HOME   the server home; defaults to the directory above bin/
#   JAVA_OPTS     read by the server (-Dcom.sun.management.jmxremote.local.port)
#   MICTL_SIM_*   fault injection, see "mictl sim --help"
# ----------------------------------------------------------------------------

` + simulatorLine + `@SIM_CMD@
# (an absolute path, recorded when the distribution was written).

# ----- Find CARBON_HOME, if not already set ---------------------------------
if [ -z "$CARBON_HOME" ]; then
  PRG="$0"
  while [ -h "$PRG" ]; do
    ls=$(ls -ld "$PRG")
    link=$(expr "$ls" : '.*-> \(.*\)$')
    if expr "$link" : '/.*' > /dev/null; then
      PRG="$link"
    else
      PRG=$(dirname "$PRG")/"$link"
    fi
  done
  CARBON_HOME=$(cd "$(dirname "$PRG")/.." && pwd)
fi
export CARBON_HOME

# ----- Process the command word, as MI's script does -----------------------
# start, stop, restart and version (each also as -word and --word) act on
# the server of this CARBON_HOME through its pid file and exit 0; every
# other argument is the server's. Without this, "--stop" would start a
# second server instead of stopping the first.
PID_FILE="$CARBON_HOME"/@PID_FILE@
CMD=""
remaining=$#
while [ "$remaining" -gt 0 ]; do
  arg=$1
  shift
  remaining=$((remaining - 1))
  case "$arg" in
    start|-start|--start) CMD=start ;;
    stop|-stop|--stop) CMD=stop ;;
    restart|-restart|--restart) CMD=restart ;;
    version|-version|--version) CMD=version ;;
    *) set -- "$@" "$arg" ;;
  esac
done
case "$CMD" in
  start)
    if [ -e "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
      echo "Process is already running"
      exit 0
    fi
    nohup sh "$CARBON_HOME"/bin/micro-integrator.sh "$@" > /dev/null 2>&1 &
    exit 0
    ;;
  stop)
    kill -TERM "$(cat "$PID_FILE")"
    exit 0
    ;;
  restart)
    pid=$(cat "$PID_FILE")
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do
      sleep 1
    done
    nohup sh "$CARBON_HOME"/bin/micro-integrator.sh "$@" > /dev/null 2>&1 &
    exit 0
    ;;
  version)
    cat "$CARBON_HOME"/@VERSION_PATH@
    exit 0
    ;;
esac

# ----- JDK range check (simulated) ------------------------------------------
case "${MICTL_SIM_REFUSE_START:-}" in
  ""|0|false) ;;
  *)
    echo "[ERROR] WSO2 MI is supported only between JDK 11 and JDK 21"
    exit 0
    ;;
esac

# ----- Empty the temporary directory, once per start ------------------------
# rm and mkdir run only when there is work for them: on a small host where
# twenty instances start at once, every process started is felt.
TMP_DIR="$CARBON_HOME"/tmp
for entry in "$TMP_DIR"/*; do
  # An empty or missing tmp/ leaves the pattern itself, which does not exist.
  if [ -e "$entry" ] || [ -h "$entry" ]; then
    rm -rf "$TMP_DIR"/*
  fi
  break
done
if [ ! -d "$TMP_DIR" ]; then
  mkdir -p "$TMP_DIR"
fi

# ----- Start the diagnostics tool in the background -------------------------
# MI starts a second JVM here. What a supervisor meets is a second long-lived
# process in the group that is not the server and ends with the script; a
# sleep is exactly that, without starting another runtime (in the C locale,
# so it reads no locale files as it starts).
LC_ALL=C sleep 2147483647 &
DIAGNOSTICS_PID=$!
trap 'kill $DIAGNOSTICS_PID 2>/dev/null' EXIT

# ----- Run the server as a child, again while it asks for a restart ---------
START_EXIT_STATUS=121
status=$START_EXIT_STATUS
while [ "$status" = "$START_EXIT_STATUS" ]; do
  @SIM_CMD@ run "$@"
  status=$?
done
exit 0
`

const libReadme = `Read-only part of mictl's simulated Micro Integrator distribution.
In a real MI_HOME this is where the jars live (lib/, wso2/components/plugins);
instance homes may hard-link these files instead of copying them.
`

// log4j2Template is conf/log4j2.properties as MI ships it where it matters
// here: the syslog appender is present but commented out (docs/mi-facts.md, "Ports",
// syslog row). Enabling it means uncommenting "syslog" in appenders, the
// appender.syslog.* lines and rootLogger.appenderRef.syslog.ref.
const log4j2Template = `# Log4j2 configuration of mictl's simulated WSO2 Micro Integrator,
# modelled on the conf/log4j2.properties that MI 4.x ships.

# list of all appenders
#add entry "syslog" to use the syslog appender
appenders = CARBON_CONSOLE, CARBON_LOGFILE
#appenders = CARBON_CONSOLE, CARBON_LOGFILE, syslog

# CARBON_CONSOLE is set to be a ConsoleAppender using a PatternLayout.
appender.CARBON_CONSOLE.type = Console
appender.CARBON_CONSOLE.name = CARBON_CONSOLE
appender.CARBON_CONSOLE.layout.type = PatternLayout
appender.CARBON_CONSOLE.layout.pattern = [%d] %5p {%c{1}} - %m%ex%n

# CARBON_LOGFILE is set to be a DailyRollingFileAppender using a PatternLayout.
appender.CARBON_LOGFILE.type = RollingFile
appender.CARBON_LOGFILE.name = CARBON_LOGFILE
appender.CARBON_LOGFILE.fileName = ${sys:carbon.home}/repository/logs/wso2carbon.log
appender.CARBON_LOGFILE.filePattern = ${sys:carbon.home}/repository/logs/wso2carbon-%d{MM-dd-yyyy}.log
appender.CARBON_LOGFILE.layout.type = PatternLayout
appender.CARBON_LOGFILE.layout.pattern = [%d] %5p {%c{1}} - %m%ex%n

# Appender config to put logs in the syslog
#appender.syslog.type = Syslog
#appender.syslog.name = syslog
#appender.syslog.host = localhost
#appender.syslog.port = 514
#appender.syslog.protocol = UDP
#appender.syslog.layout.type = PatternLayout
#appender.syslog.layout.pattern = [%d] %5p {%c} - %m%ex%n
#appender.syslog.facility = USER

rootLogger.level = INFO
rootLogger.appenderRef.CARBON_CONSOLE.ref = CARBON_CONSOLE
rootLogger.appenderRef.CARBON_LOGFILE.ref = CARBON_LOGFILE
#rootLogger.appenderRef.syslog.ref = syslog
`
