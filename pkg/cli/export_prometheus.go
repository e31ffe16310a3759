package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io"
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

// formatYAML is export prometheus's plain output: prometheus.yml itself,
// which no other command prints.
const formatYAML = "yaml"

// newCmdExportPrometheus is `mictl export prometheus`: a prometheus.yml
// for the daemon's metrics and every instance's MI metrics.
func newCmdExportPrometheus(streams *IOStreams, g *globalOptions) *cobra.Command {
	var output string
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
redirect the output.

With -o json the configuration is under "config", beside the jobs it has
("jobs"), the metrics_addr the mictl job scrapes ("metrics_addr") and the
targets file the wso2-mi job follows ("targets_file"), each null without
its job; every note on stderr is there too, with its "message", under a
key of its own: "from_running" (the settings taken from the running
deployment, each with its "setting", "value" and the up's "flag", null
when the daemon's mictl.toml sets it), "daemon_serves_otherwise",
"metrics_addr_held", "mi_metrics_off" and "targets_missing" (empty or
null when there is nothing to say).`,
		Example: `  mictl export prometheus > prometheus.yml
  prometheus --config.file=prometheus.yml
  mictl export prometheus -o json | jq -r .config > prometheus.yml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateFormat(output, formatYAML, formatJSON); err != nil {
				return err
			}
			cfg, cfgErr, err := loadDirConfig(cmd, g)
			if err != nil {
				return err
			}
			if cfgErr != nil {
				return cfgErr
			}
			r, err := scrapeReport(streams, cfg)
			if err != nil {
				return err
			}
			if output == formatJSON {
				return writeJSON(streams.Out, r)
			}
			_, err = io.WriteString(streams.Out, r.Config)
			return err
		},
	}
	addDirFlag(cmd)
	for _, s := range config.Settings {
		if s.Key == "metrics" || s.Key == "metrics_addr" {
			planflags.RegisterSetting(cmd.Flags(), s)
		}
	}
	addOutputFlag(cmd, &output, formatYAML, formatJSON)
	return cmd
}

// prometheusReport is `mictl export prometheus -o json`: the scrape
// configuration, what it scrapes, and every note stderr gives under a
// key of its own, null or empty when there is nothing to say, as the
// other exports keep theirs: a script reading stdout alone would not
// learn that a job is missing, nor why.
type prometheusReport struct {
	Kind string `json:"kind"`
	// Config is prometheus.yml, as the export prints it without -o json.
	Config string `json:"config"`
	// Jobs are the scrape jobs Config has, "mictl" and "wso2-mi".
	Jobs []string `json:"jobs"`
	// MetricsAddr is the address the daemon serves its metrics on, which
	// the mictl job scrapes; null without that job.
	MetricsAddr *string `json:"metrics_addr"`
	// TargetsFile is the file_sd file the wso2-mi job follows, absolute;
	// null without that job.
	TargetsFile *string `json:"targets_file"`
	// FromRunning are the settings mictl.toml leaves unset that the
	// export takes from the running deployment.
	FromRunning []runningSetting `json:"from_running"`
	// DaemonServesOtherwise says that the running daemon serves its
	// metrics elsewhere than metrics_addr says, or none.
	DaemonServesOtherwise *daemonServesNote `json:"daemon_serves_otherwise"`
	// MetricsAddrHeld says that another process holds metrics_addr,
	// where no mictl daemon serves: there is no mictl job.
	MetricsAddrHeld *exportNote `json:"metrics_addr_held"`
	// MIMetricsOff says that metrics = false: there is no wso2-mi job.
	MIMetricsOff *exportNote `json:"mi_metrics_off"`
	// TargetsMissing says that the targets file is not there yet.
	TargetsMissing *exportNote `json:"targets_missing"`
}

// runningSetting is a setting the export takes from the running
// deployment, as its note says.
type runningSetting struct {
	Setting string `json:"setting"`
	Value   string `json:"value"`
	// Flag is the flag of the mictl up that set it; null when the
	// mictl.toml the daemon follows sets it.
	Flag *string `json:"flag"`
	exportNote
}

// daemonServesNote is the address the running daemon serves its
// metrics on (null: none) where metrics_addr says otherwise.
type daemonServesNote struct {
	MetricsAddr *string `json:"metrics_addr"`
	exportNote
}

// scrapeReport renders cfg's scrape configuration, saying each note
// on stderr as it finds it.
func scrapeReport(streams *IOStreams, cfg *config.Config) (*prometheusReport, error) {
	r := &prometheusReport{Kind: "prometheus", Jobs: []string{}}
	running := runningDeployment(cfg)
	r.FromRunning, r.DaemonServesOtherwise = adoptRunningMetrics(streams, cfg, running)
	addr, err := reconcile.MetricsAddr(cfg)
	if err != nil {
		return nil, err
	}
	if addr == "" && !cfg.Metrics {
		return nil, exitcode.Usagef("nothing to scrape: metrics_addr is unset (the daemon serves no metrics) and metrics = false (MI serves none); set either in mictl.toml, or pass --metrics-addr or --metrics, and start the deployment with it")
	}
	held := metricsAddrHeld(running, addr)
	if held != nil && !cfg.Metrics {
		return nil, exitcode.With(exitcode.Conflicts, fmt.Errorf("nothing to scrape: metrics = false (MI serves none), and no mictl daemon serves its metrics on metrics_addr: %w", held))
	}
	if held != nil {
		n := noted(streams, fmt.Sprintf("no mictl job, which would scrape another process: no mictl daemon serves its metrics on metrics_addr, and %v, start the deployment with it (mictl up) and export again", held))
		r.MetricsAddrHeld = &n
	} else if addr != "" {
		r.Jobs = append(r.Jobs, metrics.DaemonJob)
		r.MetricsAddr = &addr
	}
	// Without metrics MI serves no /metric-service/metrics: an MI job
	// would scrape only errors, so there is none.
	targets := ""
	if cfg.Metrics {
		// Prometheus resolves a relative path against its own
		// configuration file's directory, not ours.
		if targets, err = filepath.Abs(filepath.Join(cfg.StateDir(), metrics.TargetsFileName)); err != nil {
			return nil, fmt.Errorf("the path of the Prometheus targets file: %w", err)
		}
		r.Jobs = append(r.Jobs, metrics.MIJob)
		r.TargetsFile = &targets
		if note := missingTargetsNote(targets); note != "" {
			n := noted(streams, note)
			r.TargetsMissing = &n
		}
	} else {
		n := noted(streams, metrics.MIMetricsOff)
		r.MIMetricsOff = &n
	}
	r.Config = string(metrics.ScrapeConfig(addr, held != nil, targets))
	return r, nil
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
// the export describes what runs. It notes each setting taken, and a
// daemon that serves its metrics otherwise than metrics_addr says.
func adoptRunningMetrics(streams *IOStreams, cfg *config.Config, f *state.File) ([]runningSetting, *daemonServesNote) {
	taken := []runningSetting{}
	if f == nil {
		return taken, nil
	}
	var otherwise *daemonServesNote
	running := argValue(f.Daemon.Args, "--metrics-addr")
	switch {
	case cfg.MetricsAddr == "" && cfg.IsDefault("metrics_addr") && running != "":
		cfg.MetricsAddr = running
		from, flag := runningOrigin(f.Daemon.Args, "metrics_addr", "--metrics-addr", func(dc *config.Config) bool {
			addr, err := reconcile.MetricsAddr(dc)
			return err == nil && sameMetricsAddr(addr, running)
		})
		taken = append(taken, runningSetting{Setting: "metrics_addr", Value: running, Flag: flag,
			exportNote: noted(streams, fmt.Sprintf("metrics_addr %s is the running daemon's (%s); set it in %s to keep it", running, from, cmp.Or(cfg.File, config.DefaultFile)))})
	case cfg.MetricsAddr == "" && running != "":
		// Emptied on purpose since the up: the export has no daemon job,
		// and said the daemon's metrics were off while it served them.
		otherwise = &daemonServesNote{MetricsAddr: &running, exportNote: noted(streams, fmt.Sprintf(
			"the running mictl daemon (pid %d) serves its metrics on %s, though metrics_addr is now empty: it stops when it starts again (mictl down, then mictl up)",
			f.Daemon.PID, running))}
	case cfg.MetricsAddr != "" && !sameMetricsAddr(cfg.MetricsAddr, running):
		// A daemon keeps the settings it was started with.
		serves, on := "no metrics", (*string)(nil)
		if running != "" {
			serves, on = "its metrics on "+running, &running
		}
		otherwise = &daemonServesNote{MetricsAddr: on, exportNote: noted(streams, fmt.Sprintf(
			"the running mictl daemon (pid %d) serves %s, not %s: it applies metrics_addr when it starts again (mictl down, then mictl up)",
			f.Daemon.PID, serves, cfg.MetricsAddr))}
	}
	withMetrics := func(i state.Instance) bool { return slices.Contains(i.Args, reconcile.MetricsFlag) }
	if !cfg.Metrics && cfg.IsDefault("metrics") && slices.ContainsFunc(f.Instances, withMetrics) {
		cfg.Metrics = true
		from, flag := runningOrigin(f.Daemon.Args, "metrics", "--metrics", func(dc *config.Config) bool { return dc.Metrics })
		taken = append(taken, runningSetting{Setting: "metrics", Value: "true", Flag: flag,
			exportNote: noted(streams, fmt.Sprintf("metrics = true as the running instances have it (%s); set it in %s to keep it", from, cmp.Or(cfg.File, config.DefaultFile)))})
	}
	return taken, otherwise
}

// runningOrigin names where the running daemon, started with args, got
// setting key, whose value its configuration has when has says so: the
// mictl.toml it follows (its --config), when that file sets it, else the
// flag of the up that started it, which it returns too (nil for the
// file). An address the daemon's own mictl.toml set was credited to
// "mictl up --metrics-addr" by an export given another file with
// --config.
func runningOrigin(args []string, key, flag string, has func(*config.Config) bool) (string, *string) {
	if path := argValue(args, "--config"); path != "" {
		dc, err := config.Load(config.Sources{Path: path})
		if err == nil && !dc.IsDefault(key) && !dc.FromCommandLine(key) && has(dc) {
			return "set at " + dc.Origin(key) + ", in the mictl.toml the daemon follows", nil
		}
	}
	return "mictl up " + flag, &flag
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
