package cli

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/metrics"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
	"github.com/mictl/mictl/pkg/top"
)

type topOptions struct {
	once     bool
	output   string
	interval time.Duration
}

// topScrapeTimeout bounds each request to an instance's metrics (and the
// interval, when shorter): a hanging server costs its own columns only.
const topScrapeTimeout = 800 * time.Millisecond

// topFPS caps how often the view may redraw. The content changes once a
// second or on a key, and each frame slot is a wake-up even when nothing
// changed: bubbletea's default of 60 costs more than the whole sampling.
const topFPS = 10

func newCmdTop(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &topOptions{}
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Watch every instance live: state, CPU, memory, threads, requests",
		Long: `Show the instances live, refreshed each second, one row per instance: state,
server pid, uptime, restarts (RST), CPU % and resident memory (RSS) of the
instance's whole process group, its threads (THR), and, when the instance
serves MI's metrics (metrics = true), the requests per second, error % and
95th percentile latency it served since the last refresh.

Keys: c sort by CPU, m by memory, r by restarts, n by name; q or Ctrl-C quits.

When standard output is not a terminal, or with --once or -o json, top
prints one snapshot instead, measured over one interval. In JSON every key
is always present, null when unknown (no server running, no MI metrics).`,
		Example: `  mictl top
  mictl top --once
  mictl top -o json | jq '.[] | {name, cpu_percent}'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateFormat(o.output, formatTable, formatJSON); err != nil {
				return err
			}
			if o.interval < 100*time.Millisecond {
				return exitcode.Usagef("--interval %v: use 100ms or more", o.interval)
			}
			e, err := openExisting(cmd, g, streams, lookOnly)
			if err != nil {
				return err
			}
			e.warnConfig(streams)
			sampler := top.NewSampler(o.interval, min(topScrapeTimeout, o.interval))
			defer sampler.Close()
			load := func() ([]top.Instance, string, error) { return topInstances(e.store) }
			if o.once || o.output == formatJSON || !streams.OutTTY {
				return topSnapshot(streams, sampler, load, o, e.noInstances())
			}
			m := &topModel{sampler: sampler, load: load, interval: o.interval, sort: top.ByName, width: 80, color: streams.Color(), empty: e.noInstances()}
			p := tea.NewProgram(m, tea.WithContext(cmd.Context()), tea.WithInput(streams.In), tea.WithOutput(streams.Out), tea.WithFPS(topFPS),
				tea.WithoutSignalHandler())
			// A SIGINT or SIGTERM from outside (kill -INT) quits as q and
			// Ctrl-C do: it is how one ends a view. Not bubbletea's own
			// handling, whose SIGINT path is an error (ErrInterrupted) and
			// closes the terminal reader under its reading goroutine (a
			// data race in cancelreader).
			release := onInterrupt(p.Quit)
			_, err = p.Run()
			release()
			if err != nil {
				return fmt.Errorf("top: %w", err)
			}
			return nil
		},
	}
	addDirFlag(cmd)
	addOutputFlag(cmd, &o.output, formatTable, formatJSON)
	cmd.Flags().BoolVar(&o.once, "once", false, "print one snapshot and exit")
	cmd.Flags().DurationVar(&o.interval, "interval", time.Second, "time between refreshes (and the window rates are measured over)")
	return cmd
}

// topInstances reads the instances from the state file, each state
// checked against /proc as status does, and the warning that nothing
// supervises them (unsupervised), read at every refresh: a daemon may
// end, or be started again, while top runs.
func topInstances(store *state.Store) ([]top.Instance, string, error) {
	if store == nil {
		return nil, "", nil // nothing was ever started here
	}
	f, err := store.Load()
	if err != nil {
		return nil, "", err
	}
	out := make([]top.Instance, 0, len(f.Instances))
	for _, inst := range f.Instances {
		live, pid := liveLook(inst)
		out = append(out, top.Instance{Name: inst.Name, State: live, PID: pid, PGID: inst.PGID,
			StartedAt: inst.StartedAt, Restarts: inst.Restarts,
			MetricsURL: "http://" + metrics.ScrapeAddr(inst.Bind, inst.Ports[ports.InternalHTTP]) + metrics.MIMetricsPath})
	}
	return out, unsupervised(f), nil
}

// topSnapshot prints one view: two samples an interval apart (CPU % and
// rates need two), the second once the metrics scrapes it started ended;
// empty when there is no instance.
func topSnapshot(streams *IOStreams, s *top.Sampler, load func() ([]top.Instance, string, error), o *topOptions, empty string) error {
	insts, note, err := load()
	if err != nil {
		return err
	}
	printNote(streams, note)
	if _, err := s.Sample(time.Now(), insts); err != nil {
		return err
	}
	s.Wait()
	time.Sleep(o.interval)
	if insts, _, err = load(); err != nil {
		return err
	}
	if _, err := s.Sample(time.Now(), insts); err != nil {
		return err
	}
	s.Wait()
	rows, err := s.Sample(time.Now(), insts)
	if err != nil {
		return err
	}
	top.SortRows(rows, top.ByName)
	cells := make([][]string, len(rows))
	for i, r := range rows {
		cells[i] = top.Cells(r)
	}
	return printInstanceRows(streams, o.output, rows, top.Headers, cells, empty)
}

// topModel is the live view (bubbletea's model): it samples every
// interval, one sample at a time, off the UI's goroutine.
type topModel struct {
	sampler  *top.Sampler
	load     func() ([]top.Instance, string, error)
	interval time.Duration
	sort     top.Sort
	rows     []top.Row
	err      error
	// note is the last sample's warning that nothing supervises the
	// instances, shown above them ("" for none).
	note   string
	width  int
	height int
	color  bool
	// empty is what the view says when there is no instance.
	empty string
}

type topTickMsg struct{}

type topRowsMsg struct {
	rows []top.Row
	note string
	err  error
}

func (m *topModel) Init() tea.Cmd { return m.sample }

// sample runs as a tea.Cmd; the next one is scheduled only when its
// rows arrive, so samples never overlap.
func (m *topModel) sample() tea.Msg {
	insts, note, err := m.load()
	if err != nil {
		return topRowsMsg{err: err}
	}
	rows, err := m.sampler.Sample(time.Now(), insts)
	return topRowsMsg{rows: rows, note: note, err: err}
}

func (m *topModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.KeyPressMsg:
		key := msg.String()
		if key == "q" || key == "ctrl+c" {
			return m, tea.Quit
		}
		if s, ok := top.SortKeys[key]; ok {
			m.sort = s
			top.SortRows(m.rows, m.sort)
		}
	case topRowsMsg:
		m.err = msg.err
		if msg.err == nil {
			m.rows, m.note = msg.rows, msg.note
			top.SortRows(m.rows, m.sort)
		}
		return m, tea.Tick(m.interval, func(time.Time) tea.Msg { return topTickMsg{} })
	case topTickMsg:
		return m, m.sample
	}
	return m, nil
}

func (m *topModel) View() tea.View {
	bold, dim := lipgloss.NewStyle(), lipgloss.NewStyle()
	if m.color {
		bold, dim = bold.Bold(true), dim.Faint(true)
	}
	var b strings.Builder
	b.WriteString(bold.Render("mictl top") + " " + topSummary(m.rows) + "  sort: " + string(m.sort) + "\n")
	used := 2 // the title and the help line
	if m.err != nil {
		b.WriteString(top.Cut("error: "+m.err.Error(), m.width) + "\n")
		used++
	}
	if m.note != "" {
		// Wrapped, not cut: what it says to do is at its end.
		note := lipgloss.NewStyle().Width(max(m.width, 20)).Render(m.note)
		b.WriteString(note + "\n")
		used += strings.Count(note, "\n") + 1
	}
	lines := top.Lines(m.rows, m.width)
	shown := len(lines)
	if room := m.height - used; m.height > 0 && len(lines) > room {
		// And a line that says what is left out. Not at least the header:
		// in a terminal that short the help line went off the screen.
		shown = max(room-1, 0)
	}
	for i, l := range lines[:shown] {
		if i == 0 {
			l = bold.Render(l)
		} else {
			l = stateStyle(m.rows[i-1].State, m.color).Render(l)
		}
		b.WriteString(l + "\n")
	}
	if shown < len(lines) {
		hidden := len(m.rows) - max(shown-1, 0) // lines[0] is the header
		b.WriteString(dim.Render(top.Cut(fmt.Sprintf("+%d more (a taller terminal shows them)", hidden), m.width)) + "\n")
	}
	if len(m.rows) == 0 {
		b.WriteString(m.empty + "\n")
	}
	b.WriteString(dim.Render(top.Cut("c cpu  m memory  r restarts  n name  q quit", m.width)))
	v := tea.NewView(b.String())
	v.AltScreen = true
	return v
}

// topSummary counts the instances by state: "3 instances: 2 ready, 1 crashed".
func topSummary(rows []top.Row) string {
	counts := map[string]int{}
	for _, r := range rows {
		counts[r.State]++
	}
	var parts []string
	for _, st := range metrics.States {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	s := fmt.Sprintf("%d instances", len(rows))
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	return s
}

// stateStyle colours a row by its instance's state: red for the states
// that need a look, yellow for those on their way, plain when ready.
func stateStyle(st string, color bool) lipgloss.Style {
	s := lipgloss.NewStyle()
	if !color {
		return s
	}
	switch st {
	case supervisor.StateCrashed, supervisor.StateFailed, supervisor.StateDegraded:
		return s.Foreground(lipgloss.Red)
	case supervisor.StateStarting, supervisor.StateBackoff, supervisor.StateStopping:
		return s.Foreground(lipgloss.Yellow)
	}
	return s
}
