package cli

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

type statusOptions struct {
	output string
}

func newCmdStatus(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:     "status",
		Aliases: []string{"ps"},
		Short:   "Show every instance's state, pid, uptime, restarts and health",
		Long: `Show each instance: its state (starting, ready, degraded, crashed, backoff,
stopping, stopped, failed), the pid of its server process, uptime, restarts,
offset and health. If the supervisor daemon died while instances kept
running, status starts a new one, which re-adopts them (checking pid and
process start time, so a reused pid is never mistaken for an instance).`,
		Example: `  mictl status
  mictl ps -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateFormat(o.output, formatTable, formatJSON); err != nil {
				return err
			}
			e, err := openExisting(cmd, g, streams, true)
			if err != nil {
				return err
			}
			if err := ensureDaemon(cmd.Context(), e.store, e.state, e.cfg); err != nil {
				fmt.Fprintf(streams.ErrOut, "warning: %v\n", err)
			}
			return printStatus(streams, e.store, o.output)
		},
	}
	addDirFlag(cmd)
	addOutputFlag(cmd, &o.output, formatTable, formatJSON)
	return cmd
}

// addDirFlag registers --instances-dir alone, for commands that work on
// existing instances rather than a plan.
func addDirFlag(cmd *cobra.Command) {
	for _, s := range config.Settings {
		if s.Key == "instances_dir" {
			cmd.Flags().String(s.Flag, s.Default.(string), s.Help)
			_ = cmd.MarkFlagDirname(s.Flag)
		}
	}
}

// existing is the deployment a command works on: its configuration, its
// state directory and what the state file says runs.
type existing struct {
	cfg   *config.Config
	store *state.Store
	state *state.File
}

// openExisting loads what a command that works on existing instances
// needs; withState false skips reading the state file.
func openExisting(cmd *cobra.Command, g *globalOptions, streams *IOStreams, withState bool) (*existing, error) {
	cfg, err := loadDirConfig(cmd, g)
	if err != nil {
		return nil, err
	}
	store, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	e := &existing{cfg: cfg, store: store}
	if withState {
		if e.state, err = loadState(streams, cfg, store); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// loadDirConfig loads the configuration of a command that works on
// existing instances and needs only instances_dir. A broken mictl.toml
// must not keep the user from seeing or stopping what runs: it is
// reported, and instances_dir then comes from the flag, the environment or
// the default.
func loadDirConfig(cmd *cobra.Command, g *globalOptions) (*config.Config, error) {
	cfg, err := config.Load(config.Sources{Path: g.configPath, Flags: cmd.Flags()})
	var ce *config.Error
	if !errors.As(err, &ce) {
		return cfg, err
	}
	fallback, ferr := config.Load(config.Sources{Flags: cmd.Flags(), NoFile: true})
	if ferr != nil {
		return nil, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n(ignoring the config file here; instances under %s)\n", err, fallback.InstancesDir)
	return fallback, nil
}

// statusRow is one instance in `mictl status -o json`.
type statusRow struct {
	Name      string    `json:"name"`
	State     string    `json:"state"`
	PID       int       `json:"pid,omitempty"`
	Uptime    float64   `json:"uptime_seconds,omitempty"`
	Restarts  int       `json:"restarts"`
	Offset    int       `json:"offset"`
	Ports     ports.Set `json:"ports"`
	Health    string    `json:"health"`
	LastError string    `json:"last_error,omitempty"`
}

// liveState corrects what the state file says with what /proc says: a
// server that is gone is not "ready", whatever was written before.
func liveState(inst state.Instance) string {
	if !supervisor.Wanted(inst.State) || inst.State == supervisor.StateBackoff {
		return inst.State
	}
	if inst.Server.IsZero() {
		return inst.State
	}
	if !inst.Server.Alive() {
		return supervisor.StateCrashed
	}
	return inst.State
}

func statusRows(f *state.File) []statusRow {
	rows := make([]statusRow, 0, len(f.Instances))
	for _, inst := range f.Instances {
		r := statusRow{Name: inst.Name, State: liveState(inst), Restarts: inst.Restarts, Offset: inst.Offset,
			Ports: inst.Ports, LastError: inst.LastError}
		if r.State != supervisor.StateStopped && !inst.Server.IsZero() && inst.Server.Alive() {
			r.PID = inst.Server.PID
			if !inst.StartedAt.IsZero() {
				r.Uptime = time.Since(inst.StartedAt).Round(time.Second).Seconds()
			}
		}
		switch r.State {
		case supervisor.StateReady:
			r.Health = "ok"
		case supervisor.StateStopped:
			r.Health = "-"
		default:
			r.Health = firstLine(inst.LastError)
			if r.Health == "" {
				r.Health = "-"
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// printStatus prints the status of every instance.
func printStatus(streams *IOStreams, store *state.Store, format string) error {
	f, err := store.Load()
	if err != nil {
		return err
	}
	rows := statusRows(f)
	if f.ReloadError != "" {
		fmt.Fprintf(streams.ErrOut, "warning: the last configuration reload failed, instances run the configuration before it:\n  %s\n", f.ReloadError)
	}
	if format == formatJSON {
		return writeJSON(streams.Out, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(streams.ErrOut, "no instances; start some with: mictl up --instances 3")
		return nil
	}
	cells := make([][]string, len(rows))
	for i, r := range rows {
		pid, uptime := "-", "-"
		if r.PID > 0 {
			pid = strconv.Itoa(r.PID)
			uptime = (time.Duration(r.Uptime) * time.Second).String()
		}
		cells[i] = []string{r.Name, r.State, pid, uptime, strconv.Itoa(r.Restarts), strconv.Itoa(r.Offset), truncate(r.Health, 40)}
	}
	return writeTable(streams.Out, formatTable, []string{"NAME", "STATE", "PID", "UPTIME", "RESTARTS", "OFFSET", "HEALTH"}, cells)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
