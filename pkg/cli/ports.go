package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/deployment"
	"github.com/mictl/mictl/pkg/hostnet"
	"github.com/mictl/mictl/pkg/observe"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/supervisor"
)

type portsTableOptions struct {
	plan   planOptions
	output string
}

func newCmdPorts(streams *IOStreams, g *globalOptions) *cobra.Command {
	cmd := asGroup(&cobra.Command{
		Use:        "ports",
		SuggestFor: []string{"plan"}, // ports table shows the plan (see check-conflicts)
		Short:      "Show which instance holds which port",
		Example: `  mictl ports table
  mictl ports table --instances 5 -o json`,
	})
	cmd.AddCommand(newCmdPortsTable(streams, g))
	return cmd
}

func newCmdPortsTable(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &portsTableOptions{}
	cmd := &cobra.Command{
		Use:   "table",
		Short: "Print every instance's offset and fixed ports",
		Long: `Print one row per instance: its name, its offset and its four fixed ports
(HTTP and HTTPS pass-through, the internal HTTP API used for health probes,
and the Management API). Ports set explicitly in deployment.toml are shown
as MI uses them: the configured value plus the offset. For an instance
that runs: its state, pid and the random ports it opened; for one that
does not (stopped, failed), the state it was left in, and where it last
ran when up would now start it at another offset. One the configuration no
longer names (an earlier up --instances or --offsets started it) is shown
where it last ran, with a note, as status shows it. A port a running
instance does not hold is marked "!", with a note naming its holder if
any; while the instance starts or stops, its ports that do not listen (yet,
or any more) are expected so, not marked, and named in a note (-o json:
"pending").

The plan's conflicts and warnings are printed below the table; with -o json
each row's "conflicts" and "warnings" hold those that name its instance, as
check-conflicts -o json spells them ([] when none). Either way the exit status is 0: it is a view,
check-conflicts is the check.`,
		Example: `  mictl ports table --instances 3
  mictl ports table --instances 5 -o json
  mictl ports table -o markdown`,
		Args: usageArgs(cobra.NoArgs),
	}
	return withPlan(cmd, g, &o.plan, &o.output, []string{formatTable, formatJSON, formatMarkdown}, func(p *planned) error {
		return runPortsTable(streams, o, p)
	})
}

// portsRow is one instance in -o json. Every key is always present
// (null when unknown); new ones are only ever added beside them.
type portsRow struct {
	Name   string    `json:"name"`
	Offset int       `json:"offset"`
	Ports  ports.Set `json:"ports"`
	// OffsetSource is where the offset comes from: planner, flag,
	// config or running (kept while the instance runs); recorded for an
	// instance the plan leaves out (see unplanned), where it last ran.
	OffsetSource string `json:"offset_source"`
	Explicit     bool   `json:"explicit_offset"` // the user gave it (flag or config)
	// Moved is set when the planner passed over offsets busy on the host.
	Moved *movedInfo `json:"moved"`
	// WhatIf is true when the instance runs with another offset than the
	// row's (ports table --offsets on a running deployment): the row is a
	// plan to look at, and RunningOffset is where the instance runs.
	WhatIf        bool `json:"what_if"`
	RunningOffset *int `json:"running_offset"`
	// RunningPorts are the fixed ports a what-if row's instance runs
	// with; null for every other row.
	RunningPorts *ports.Set `json:"running_ports"`
	// LastOffset is where an instance that does not run (stopped,
	// failed) last ran, when that is not the row's offset (up would start
	// it elsewhere now); null otherwise.
	LastOffset *int `json:"last_offset"`
	// LastPortTaken is the port at LastOffset a foreign process now
	// holds, and its holder: why it cannot go back there (lastPortTaken);
	// null when none is held, or LastOffset is null.
	LastPortTaken *takenPort `json:"last_port_taken"`
	// State is the instance's state as status shows it: while it runs on
	// the row's ports, and for one that does not run (stopped, failed),
	// the state it was left in, wherever it last ran; null when it runs
	// with other ports (what-if) or was never started. PID is its server
	// on the row's ports, null when none.
	State *string `json:"state"`
	PID   *int    `json:"pid"`
	// Live is what the host shows on the row's fixed ports now, for an
	// instance that runs (with these ports or, what-if, with others);
	// null otherwise.
	Live map[string]livePort `json:"live"`
	// Random are the unplanned ports the running instance opened (JMX,
	// syslog); null when it does not run on the row's ports.
	Random []observe.RandomPort `json:"random"`
	// Extras are the ports the instance opens besides the four (its
	// CApps' inbound endpoints, the mediation debugger), as planned.
	Extras []extraRow `json:"extras"`
	// RunTime are its inbound endpoint ports MI resolves only at run
	// time ($SYSTEM:...): not planned, so in no column.
	RunTime []deployment.RunTimePort `json:"runtime_ports"`
	// Conflicts are the plan's conflicts that name this instance, as
	// check-conflicts -o json spells them: the lines the text prints
	// below the table. A clash of two instances is in both rows.
	Conflicts []check.Finding `json:"conflicts"`
	// Warnings are the check's warnings that name this instance, in
	// the same way.
	Warnings []check.Finding `json:"warnings"`
}

// extraRow is one extra port; live as for the fixed ones (null when the
// instance does not run).
type extraRow struct {
	Role     string    `json:"role"`
	Listener string    `json:"listener"`
	Port     int       `json:"port"`
	Live     *livePort `json:"live"`
}

// livePort says whether a fixed port listens and is the instance's own.
type livePort struct {
	Listening bool `json:"listening"`
	Owned     bool `json:"owned"`
	// Pending is true when the port does not listen because its instance
	// is starting or stopping: MI opens its ports before it is ready, and
	// closes them before it ends, so this is expected, not a fault. A port
	// held by another process is never pending: the instance will not get
	// it (or it was never the instance's).
	Pending bool `json:"pending"`
	// HeldBy is the foreign holder: every key null when owned or free.
	check.HeldBy
}

// movedInfo is a ports.Move with the holder named.
type movedInfo struct {
	SkippedOffset int     `json:"skipped_offset"`
	Port          int     `json:"port"`
	Role          string  `json:"role"`
	Listener      *string `json:"listener"` // null for the four fixed ports
	// HeldBy: as in a livePort; every key null when it let the port go
	// since.
	check.HeldBy
	// Address is where the holder holds the port: the host address, a
	// wildcard, or the other loopback address (::1 beside 127.0.0.1),
	// which clients of localhost may reach; null as HeldBy's keys are.
	Address       *string `json:"address"`
	OffsetsPassed int     `json:"offsets_passed"`
}

// newMovedInfo is m with the holder of its busy port named.
func newMovedInfo(t *reconcile.Target, m *ports.Move) *movedInfo {
	held, at := heldAt(t, m.Port)
	return &movedInfo{SkippedOffset: m.Skipped, Port: m.Port, Role: m.Role, Listener: optional(m.Listener),
		HeldBy: held, Address: at, OffsetsPassed: m.Passed}
}

// heldAt is what holds port on t's host and the address it holds it on,
// apart, as -o json says them (check.Host.HolderAt); the address is nil
// when nothing foreign holds it.
func heldAt(t *reconcile.Target, port int) (check.HeldBy, *string) {
	held, at := t.Host.HolderAt(port)
	if !at.IsValid() {
		return held, nil
	}
	return held, optional(at.String())
}

// portsRows is one row per planned instance, each with the conflicts
// and warnings of report that name it.
func portsRows(p *planned, report check.Report) ([]portsRow, error) {
	conflicts, warnings := byInstance(report.Conflicts), byInstance(report.Warnings)
	rows := make([]portsRow, len(p.Plan.Instances))
	var view *observe.View // one look at the host for every row
	for i, inst := range p.Plan.Instances {
		row := portsRow{Name: inst.Name, Offset: inst.Offset, Ports: inst.Ports(), OffsetSource: inst.From, Explicit: inst.Explicit(), Extras: []extraRow{},
			RunTime: deployment.RunTimePorts(p.Inbounds, p.AppsOf(inst.Name)), Conflicts: append([]check.Finding{}, conflicts[inst.Name]...),
			Warnings: append([]check.Finding{}, warnings[inst.Name]...)}
		for k, e := range inst.Extras {
			row.Extras = append(row.Extras, extraRow{Role: e.Role, Listener: e.Name, Port: inst.ExtraPorts()[k]})
		}
		if m := inst.Moved; m != nil {
			row.Moved = newMovedInfo(p.Target, m)
		}
		rec, ok := p.state.Instance(inst.Name)
		if ok && !reconcile.Running(*rec) {
			st := liveState(*rec)
			row.State = &st
			if rec.Offset != inst.Offset {
				row.LastOffset = &rec.Offset
				row.LastPortTaken = lastPortTaken(p.Target, *rec)
			}
		}
		if ok && reconcile.Running(*rec) {
			if view == nil {
				var err error
				if view, err = observe.NewView(); err != nil {
					return nil, err
				}
				view.Whose = p.Target.Host.Whose
			}
			row.observe(view, *rec)
		}
		rows[i] = row
	}
	for _, rec := range unplanned(p.Target, p.state) {
		st := liveState(rec)
		row := portsRow{Name: rec.Name, Offset: rec.Offset, Ports: rec.Ports, OffsetSource: offsetRecorded, Extras: []extraRow{},
			RunTime: []deployment.RunTimePort{}, Conflicts: []check.Finding{}, Warnings: []check.Finding{}, State: &st}
		for _, e := range rec.Extras {
			row.Extras = append(row.Extras, extraRow{Role: e.Role, Listener: e.Listener, Port: e.Port})
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// offsetRecorded is the offset_source of an unplanned instance's row.
const offsetRecorded = "recorded"

// unplanned are the instances the state file records that the plan
// leaves out: those that do not run (failed, crashed, stopped) and that
// mictl.toml does not name, as an instance an earlier up --offsets or
// --instances started. status shows them; so do ports table, at the
// offset they last ran at, and check-conflicts, in a note (-o json:
// unplanned).
func unplanned(t *reconcile.Target, f *state.File) []state.Instance {
	var out []state.Instance
	for _, rec := range f.Instances {
		if !slices.ContainsFunc(t.Plan.Instances, func(inst ports.Instance) bool { return inst.Name == rec.Name }) {
			out = append(out, rec)
		}
	}
	return out
}

// unplannedNotes say why each unplanned instance is not in the plan,
// and what brings it back or forgets it.
func unplannedNotes(p *planned) []string {
	var out []string
	for _, rec := range unplanned(p.Target, p.state) {
		again := upAgain(p.Config, p.state, rec.Name)
		if again == "" {
			again = upFor(p.Config) + " starts it again only when mictl.toml or its flags name it, "
		}
		out = append(out, fmt.Sprintf("%s is %s at offset %d and not planned: the configuration does not name it (an earlier up did); %s%s forgets it",
			rec.Name, liveState(rec), rec.Offset, again, asRunHere(p.Config, "mictl down --purge "+rec.Name)))
	}
	return out
}

// observe fills in the live columns of a row whose instance runs as rec:
// its state, pid and random ports when it runs on the row's ports, and
// in any case what holds the row's ports now.
func (row *portsRow) observe(view *observe.View, rec state.Instance) {
	shown := rec
	shown.Ports, shown.Extras = row.Ports, nil
	for _, e := range row.Extras {
		shown.Extras = append(shown.Extras, state.Extra{Role: e.Role, Listener: e.Listener, Port: e.Port})
	}
	if rec.Ports != row.Ports {
		row.WhatIf, row.RunningOffset, row.RunningPorts = true, &rec.Offset, &rec.Ports
	}
	obs := view.Observe(&shown, true)
	changing := false // starting or stopping: see livePort.Pending
	if !row.WhatIf {
		st := liveState(rec)
		changing = st == supervisor.StateStarting || st == supervisor.StateStopping
		row.State, row.Random = &st, labelRunningInbounds(obs.Random, rec)
		if row.Random == nil {
			row.Random = []observe.RandomPort{}
		}
		// obs.Server is the recorded server, or, for a start that has
		// not recorded it yet, the one its pid file names (whose JMX
		// port the row then labels so).
		if rec.Server.Alive() || rec.Server.PID == 0 && obs.Server > 0 {
			row.PID = &obs.Server
		}
	}
	row.Live = map[string]livePort{}
	for role, st := range obs.Fixed {
		row.Live[ports.Catalogue[role].Name] = newLivePort(st, changing)
	}
	for i, st := range obs.Extras {
		lp := newLivePort(st, changing)
		row.Extras[i].Live = &lp
	}
}

// labelRunningInbounds marks the random ports that are inbound endpoints
// of what runs (the running record rec's Extras) but not of the plan (a
// reload refused, or not applied yet), or of CApps mictl took away from
// rec that MI has not undeployed yet (its Undeploying): the instance's
// own listeners, not JMX, and not a stranger's ("other").
func labelRunningInbounds(random []observe.RandomPort, rec state.Instance) []observe.RandomPort {
	for i, r := range random {
		if r.Proto != hostnet.TCP {
			continue
		}
		for _, of := range []struct {
			extras      []state.Extra
			undeploying bool
		}{{rec.Extras, false}, {rec.Undeploying, true}} {
			if k := slices.IndexFunc(of.extras, func(e state.Extra) bool { return e.Port == r.Port }); k >= 0 {
				random[i].Role, random[i].Listener, random[i].Undeploying = ports.RoleInbound, &of.extras[k].Listener, of.undeploying
				break
			}
		}
	}
	return random
}

// newLivePort is st as -o json shows it; changing says the port's
// instance is starting or stopping (see livePort.Pending).
func newLivePort(st observe.PortStatus, changing bool) livePort {
	return livePort{Listening: st.Listening, Owned: st.Owned, Pending: changing && !st.Listening,
		HeldBy: check.NewHeldBy(st.Holder, st.HolderPID, st.HolderProcess, st.HolderInstance)}
}

// pendingNote names the ports of r, a starting or stopping instance's
// row, that do not listen as its start or stop goes on. A stopping
// instance's closed ports were marked "!" and "does not listen", a fault,
// as a starting one's were.
func pendingNote(r portsRow, pending []string) string {
	if r.State != nil && *r.State == supervisor.StateStopping {
		return fmt.Sprintf("%s is stopping: no longer listening on %s, as expected until it has stopped (mictl status shows when it has)",
			r.Name, strings.Join(pending, ", "))
	}
	return fmt.Sprintf("%s is starting: not listening yet on %s, as expected until it is ready (mictl status shows when it is)",
		r.Name, strings.Join(pending, ", "))
}

func runPortsTable(streams *IOStreams, o *portsTableOptions, p *planned) error {
	printNote(streams, unsupervised(p.state))
	// A view, not a check (exit 0), but a plan that would clash says so,
	// in text below the table and in json in the rows.
	report := p.Target.Conflicts()
	rows, err := portsRows(p, report)
	if err != nil {
		return err
	}
	if o.output == formatJSON {
		return writeJSON(streams.Out, rows)
	}
	live, extras := false, false
	for _, r := range rows {
		live = live || r.Live != nil || r.State != nil
		extras = extras || len(r.Extras) > 0
	}
	headers := []string{"NAME", "OFFSET"}
	for _, spec := range ports.Catalogue {
		headers = append(headers, strings.ToUpper(spec.Name))
	}
	if extras {
		headers = append(headers, "EXTRA")
	}
	if live {
		headers = append(headers, "STATE", "PID", "RANDOM")
	}
	cells := make([][]string, len(rows))
	marked := false
	// changing are notes apart from the ones below "!": the ports they
	// name are not marked, as nothing is wrong with them.
	var notes, changing, noted []string
	for i, r := range rows {
		cells[i] = []string{r.Name, strconv.Itoa(r.Offset)}
		var pending []string // the ports it opens as it starts, or closed as it stops
		for role, port := range r.Ports {
			cell := strconv.Itoa(port)
			lp, ok := r.Live[ports.Catalogue[role].Name]
			if ok && lp.Pending {
				pending = append(pending, fmt.Sprintf("%s %d", ports.Catalogue[role].Name, port))
			} else if ok && !lp.Owned && !r.WhatIf {
				cell += "!" // not listening, or held by another process
				marked = true
				notes = append(notes, unownedNote(r.Name, ports.Catalogue[role].Name, port, lp))
			}
			cells[i] = append(cells[i], cell)
		}
		if extras {
			var parts []string
			for _, e := range r.Extras {
				part := fmt.Sprintf("%s %d", e.Role, e.Port)
				if e.Live != nil && e.Live.Pending {
					pending = append(pending, part)
				} else if e.Live != nil && !e.Live.Owned && !r.WhatIf {
					part += "!"
					marked = true
					notes = append(notes, unownedNote(r.Name, e.Role+" "+e.Listener, e.Port, *e.Live))
				}
				parts = append(parts, part)
			}
			cells[i] = append(cells[i], orDash(strings.Join(parts, ", ")))
		}
		if len(pending) > 0 {
			changing = append(changing, pendingNote(r, pending))
		}
		if live {
			state, pid := "-", "-"
			if r.State != nil {
				state = *r.State
			}
			if r.PID != nil {
				pid = strconv.Itoa(*r.PID)
			}
			if r.LastOffset != nil {
				where := ""
				if r.LastPortTaken != nil {
					where = ", where " + r.LastPortTaken.String()
				}
				if inst, ok := p.Target.Instance(r.Name); ok {
					if passed := passedOver(p.Target, inst, *r.LastOffset); passed != "" {
						where += "; the planner " + passed
					}
				}
				noted = append(noted, r.Name)
				notes = append(notes, fmt.Sprintf("%s is %s: it last ran at offset %d%s; its row is where mictl up would start it now (%s)",
					r.Name, *r.State, *r.LastOffset, where, backAdvice(p.Config, r.Name, r.LastPortTaken, *r.LastOffset)))
			}
			if r.WhatIf {
				state = "what-if"
				notes = append(notes, whatIfNote(r, p.state.ReloadError != "" && len(o.plan.Args) == 0))
			}
			cells[i] = append(cells[i], state, pid, orDash(randomPorts(r.Random)))
		}
	}
	if err := writeTable(streams.Out, o.output, headers, cells); err != nil {
		return err
	}
	if marked {
		fmt.Fprintln(streams.Out, "! = not listening, or held by another process:")
	}
	for _, n := range slices.Concat(notes, changing, moveNotes(p.Target, noted), runTimeNotes(p.Target), unplannedNotes(p)) {
		fmt.Fprintln(streams.Out, n)
	}
	if len(report.Conflicts) > 0 {
		for _, c := range report.Conflicts {
			fmt.Fprintf(streams.Out, "conflict: %s\n", c.Message)
		}
		fmt.Fprintln(streams.Out, "(mictl check-conflicts explains each and exits 1; up refuses this plan)")
	}
	for _, w := range report.Warnings {
		fmt.Fprintf(streams.Out, "warning: %s\n", w.Message)
	}
	return nil
}

// byInstance files each finding under every instance it names.
func byInstance(findings []check.Finding) map[string][]check.Finding {
	out := map[string][]check.Finding{}
	for _, f := range findings {
		for _, name := range f.Instances {
			out[name] = append(out[name], f)
		}
	}
	return out
}

// whatIfNote says where the instance of a what-if row runs (the ports it
// was started with), so that the table still tells which ports it holds;
// refused says the daemon did not apply the configuration as it is now, the
// one the row plans (why the plan and what runs differ).
func whatIfNote(r portsRow, refused bool) string {
	var held []string
	for role, port := range r.RunningPorts {
		held = append(held, fmt.Sprintf("%s %d", ports.Catalogue[role].Name, port))
	}
	runs := fmt.Sprintf("offset %d (%s), not %d", *r.RunningOffset, strings.Join(held, ", "), r.Offset)
	if *r.RunningOffset == r.Offset {
		runs = fmt.Sprintf("offset %d but other ports (%s: its configuration changed since it started; mictl diff shows how)", r.Offset, strings.Join(held, ", "))
	}
	note := fmt.Sprintf("what-if: %s runs with %s; its row shows the plan, not what runs", r.Name, runs)
	if refused {
		note += "; the daemon did not apply mictl.toml as it is now (mictl status says why)"
	}
	return note
}

// unownedNote says what is wrong with a port of a running instance that
// it does not hold.
func unownedNote(instance, role string, port int, lp livePort) string {
	if lp.Holder != nil {
		return fmt.Sprintf("  %s's %s is held by %s", instance, ports.Spell(role, port), *lp.Holder)
	}
	return fmt.Sprintf("  %s's %s does not listen", instance, ports.Spell(role, port))
}

func randomPorts(rs []observe.RandomPort) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s %s/%d", r.Role, r.Proto, r.Port)
		if r.Undeploying {
			parts[i] += fmt.Sprintf(" (%s, undeploying)", *r.Listener)
		}
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
