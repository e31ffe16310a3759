package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/metrics"
	"github.com/mictl/mictl/pkg/planflags"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
)

// newCmdExportPrometheus is `mictl export prometheus`: a prometheus.yml
// for the daemon's metrics and every instance's MI metrics.
func newCmdExportPrometheus(streams *IOStreams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prometheus",
		Short: "Print a Prometheus scrape configuration for the daemon and every instance",
		Long: `Print a ready prometheus.yml with two jobs: "mictl", the supervisor
daemon's own metrics on metrics_addr (instance states, restarts, time to
ready, CPU, memory, threads and open files of each instance), and
"wso2-mi", every instance's MI metrics (/metric-service/metrics on its
internal HTTP port), found through the file the daemon keeps current,
instances/.mictl/prometheus-targets.json. Prometheus follows that file as
instances come, go or change offset: the configuration never needs editing
again. MI serves its metrics only with metrics = true: with metrics = false
there is no wso2-mi job (the file and stderr say so); with neither,
nothing can be scraped and it fails (exit 2). A metrics_addr another
process holds, where no mictl daemon serves (the daemon that listened
there is gone while its instances run on; the next 'mictl up' refuses the
address), gets no "mictl" job, which would scrape that process: the file
and stderr say so, and with metrics = false it fails (exit 1, as 'mictl
up' refuses it). Before the first 'mictl up'
the daemon has not written the targets file (stderr says so): start
Prometheus after that up, since its file_sd cannot watch a directory that
does not exist yet and would follow the instances only every 5 minutes.
Settings mictl.toml
(or the flags here) leave unset are taken from the running deployment, when
it runs with them (given to its up as flags, or set in the mictl.toml its
daemon follows; stderr says which). Nothing is written:
redirect the output.`,
		Example: `  mictl export prometheus > prometheus.yml
  prometheus --config.file=prometheus.yml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, cfgErr, err := loadDirConfig(cmd, g)
			if err != nil {
				return err
			}
			if cfgErr != nil {
				return cfgErr
			}
			running := runningDeployment(cfg)
			for _, n := range adoptRunningMetrics(cfg, running) {
				fmt.Fprintln(streams.ErrOut, "note: "+n)
			}
			addr, err := reconcile.MetricsAddr(cfg)
			if err != nil {
				return err
			}
			if addr == "" && !cfg.Metrics {
				return exitcode.Usagef("nothing to scrape: metrics_addr is unset (the daemon serves no metrics) and metrics = false (MI serves none); set either in mictl.toml, or pass --metrics-addr or --metrics, and start the deployment with it")
			}
			held := metricsAddrHeld(running, addr)
			if held != nil && !cfg.Metrics {
				return exitcode.With(exitcode.Conflicts, fmt.Errorf("nothing to scrape: metrics = false (MI serves none), and no mictl daemon serves its metrics on metrics_addr: %w", held))
			}
			if held != nil {
				fmt.Fprintf(streams.ErrOut, "note: no mictl job, which would scrape another process: no mictl daemon serves its metrics on metrics_addr, and %v, start the deployment with it (mictl up) and export again\n", held)
			}
			// Without metrics MI serves no /metric-service/metrics: an MI
			// job would scrape only errors, so there is none.
			targets := ""
			if cfg.Metrics {
				// Prometheus resolves a relative path against its own
				// configuration file's directory, not ours.
				if targets, err = filepath.Abs(filepath.Join(cfg.StateDir(), metrics.TargetsFileName)); err != nil {
					return fmt.Errorf("the path of the Prometheus targets file: %w", err)
				}
				if note := missingTargetsNote(targets); note != "" {
					fmt.Fprintln(streams.ErrOut, "note: "+note)
				}
			} else {
				fmt.Fprintln(streams.ErrOut, "note: "+metrics.MIMetricsOff)
			}
			_, err = streams.Out.Write(metrics.ScrapeConfig(addr, held != nil, targets))
			return err
		},
	}
	addDirFlag(cmd)
	for _, s := range config.Settings {
		if s.Key == "metrics" || s.Key == "metrics_addr" {
			planflags.RegisterSetting(cmd.Flags(), s)
		}
	}
	return cmd
}

// missingTargetsNote says, when the targets file the wso2-mi job reads
// is not there yet (no mictl up has run), who writes it and when: until
// then the job has no targets, and promtool check config warns of it.
// Prometheus's file_sd watches the file's directory and cannot watch one
// that does not exist: a Prometheus started before it exists sees the
// instances come and go only at each refresh_interval (5 minutes).
func missingTargetsNote(path string) string {
	if exists(path) {
		return ""
	}
	note := path + " does not exist yet: the mictl daemon writes it when mictl up starts the instances, and until then the wso2-mi job has no targets"
	if dir := filepath.Dir(path); !exists(dir) {
		note += "; start Prometheus after that up: one started while " + dir + " is missing cannot watch it, and follows the instances only every refresh_interval (5m)"
	}
	return note
}

// exists is false only when path is known not to exist: a directory
// mictl may not read (another user's) holds it as far as it can tell.
func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// runningDeployment is the state of cfg's deployment while its daemon
// runs, nil when none does (its settings are then nowhere in effect).
func runningDeployment(cfg *config.Config) *state.File {
	f, err := currentState(cfg)
	if err != nil || f.Daemon == nil || !f.Daemon.Alive() {
		return nil
	}
	return f
}

// metricsAddrHeld is the error listening on addr gives when another
// process holds it and the running daemon (of running; nil for none) was
// not started there, nil otherwise. A daemon never runs without its
// metrics listener (it refuses to start), but instances outlive theirs:
// the address is then free for anyone, the next up refuses it, and a
// job for it scraped whatever took it.
func metricsAddrHeld(running *state.File, addr string) *metrics.InUseError {
	if addr == "" || (running != nil && sameMetricsAddr(addr, argValue(running.Daemon.Args, "--metrics-addr"))) {
		return nil
	}
	ln, err := metrics.Listen(addr)
	if err == nil {
		ln.Close()
	}
	// Any other failure (an address the host lacks) is up's to refuse:
	// the job then scrapes nothing, never a stranger.
	held, _ := errors.AsType[*metrics.InUseError](err)
	return held
}

// adoptRunningMetrics takes from the running deployment (nil: none
// runs) the metrics settings cfg leaves at their defaults: an up given
// --metrics-addr or --metrics on its command line runs with them, and
// the export describes what runs. It returns a note for each setting
// taken.
func adoptRunningMetrics(cfg *config.Config, f *state.File) []string {
	if f == nil {
		return nil
	}
	var notes []string
	running := argValue(f.Daemon.Args, "--metrics-addr")
	switch {
	case cfg.MetricsAddr == "" && cfg.IsDefault("metrics_addr") && running != "":
		cfg.MetricsAddr = running
		from := runningOrigin(f.Daemon.Args, "metrics_addr", "--metrics-addr", func(dc *config.Config) bool {
			addr, err := reconcile.MetricsAddr(dc)
			return err == nil && sameMetricsAddr(addr, running)
		})
		notes = append(notes, fmt.Sprintf("metrics_addr %s is the running daemon's (%s); set it in %s to keep it", running, from, cmp.Or(cfg.File, config.DefaultFile)))
	case cfg.MetricsAddr == "" && running != "":
		// Emptied on purpose since the up: the export has no daemon job,
		// and said the daemon's metrics were off while it served them.
		notes = append(notes, fmt.Sprintf("the running mictl daemon (pid %d) serves its metrics on %s, though metrics_addr is now empty: it stops when it starts again (mictl down, then mictl up)",
			f.Daemon.PID, running))
	case cfg.MetricsAddr != "" && !sameMetricsAddr(cfg.MetricsAddr, running):
		// A daemon keeps the settings it was started with.
		serves := "no metrics"
		if running != "" {
			serves = "its metrics on " + running
		}
		notes = append(notes, fmt.Sprintf("the running mictl daemon (pid %d) serves %s, not %s: it applies metrics_addr when it starts again (mictl down, then mictl up)",
			f.Daemon.PID, serves, cfg.MetricsAddr))
	}
	withMetrics := func(i state.Instance) bool { return slices.Contains(i.Args, reconcile.MetricsFlag) }
	if !cfg.Metrics && cfg.IsDefault("metrics") && slices.ContainsFunc(f.Instances, withMetrics) {
		cfg.Metrics = true
		from := runningOrigin(f.Daemon.Args, "metrics", "--metrics", func(dc *config.Config) bool { return dc.Metrics })
		notes = append(notes, fmt.Sprintf("metrics = true as the running instances have it (%s); set it in %s to keep it", from, cmp.Or(cfg.File, config.DefaultFile)))
	}
	return notes
}

// runningOrigin names where the running daemon, started with args, got
// setting key, whose value its configuration has when has says so: the
// mictl.toml it follows (its --config), when that file sets it, else the
// flag of the up that started it. An address the daemon's own mictl.toml
// set was credited to "mictl up --metrics-addr" by an export given
// another file with --config.
func runningOrigin(args []string, key, flag string, has func(*config.Config) bool) string {
	if path := argValue(args, "--config"); path != "" {
		dc, err := config.Load(config.Sources{Path: path})
		if err == nil && !dc.IsDefault(key) && !dc.FromCommandLine(key) && has(dc) {
			return "set at " + dc.Origin(key) + ", in the mictl.toml the daemon follows"
		}
	}
	return "mictl up " + flag
}

// sameMetricsAddr reports whether two metrics_addr values name one
// address (":9464" and "127.0.0.1:9464"); a daemon of an earlier mictl
// recorded its address as written.
func sameMetricsAddr(a, b string) bool {
	pa, errA := metrics.ParseAddr(a)
	pb, errB := metrics.ParseAddr(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return pa == pb
}

// argValue is the value of flag in args ("--flag v" or "--flag=v").
func argValue(args []string, flag string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
