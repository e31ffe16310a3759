package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mictl/mictl/pkg/check"
	"github.com/mictl/mictl/pkg/reconcile"
	"github.com/mictl/mictl/pkg/state"
	"github.com/mictl/mictl/pkg/words"
)

type checkConflictsOptions struct {
	plan   planOptions
	output string
}

func newCmdCheckConflicts(streams *IOStreams, g *globalOptions) *cobra.Command {
	o := &checkConflictsOptions{}
	cmd := &cobra.Command{
		Use: "check-conflicts",
		// The words an operator reaches for to see the plan before up:
		// this checks it, ports table shows it.
		SuggestFor: []string{"plan", "conflicts", "check"},
		Short:      "Check the planned ports against each other and the host",
		Long: `Check every port of every planned instance against every other instance's
ports (in any role: offset 47's HTTPS port is offset 10's HTTP port) and
against the sockets the host holds now, IPv4 and IPv6: listeners, and, for
the plan's ports inside the kernel's ephemeral range, the connections that
took one of them (an outgoing connection keeps MI from binding its port as
a listener does). Each conflict is one line naming both parties; ports
inside the ephemeral range, where the next outgoing connection may take
them first, are warnings, except those net.ipv4.ip_local_reserved_ports
lists, which the kernel never hands out. An inbound endpoint whose port is a placeholder MI resolves at
run time ($SYSTEM:ORDERS_PORT) cannot be checked: a note names it. A
server mictl did not start (by hand, or a service) running in the home of
an instance mictl up would start is named too: up refuses to start a
second server there. For each instance in a conflict whose offset is
fixed (--offsets, an [[instance]] offset, or one it runs with), a hint on
stderr says where the offset comes from and what moves it, as a refused
up says it.

Exit status: 0 when there is no conflict, 1 when there are conflicts (or a
home runs a server mictl did not start), 2 on a usage or configuration
error, 3 when the host's sockets could not be read;
` + exitInterrupted + `.`,
		Example: `  mictl check-conflicts --instances 3
  mictl check-conflicts --offsets 10,47
  mictl check-conflicts -o json`,
		Args: usageArgs(cobra.NoArgs),
	}
	return withPlan(cmd, g, &o.plan, &o.output, []string{formatTable, formatJSON}, func(p *planned) error {
		return runCheckConflicts(cmd.Context(), streams, o, p)
	})
}

// conflictsReport is `mictl check-conflicts -o json`: the check's
// findings, and the instances the planner placed around busy host ports.
type conflictsReport struct {
	check.Report
	Moves []planMove `json:"moves"`
	// RunTime are the inbound endpoint ports MI resolves at run time,
	// which nothing checked.
	RunTime []instanceRunTimePort `json:"runtime_ports"`
	// ServersInHomes are the servers mictl did not start running in the
	// homes of instances up would start, which up refuses.
	ServersInHomes []serverInHome `json:"servers_in_homes"`
	// Unplanned are the instances the state file records that the plan
	// leaves out (an earlier up named them, the configuration does not):
	// nothing was checked for them.
	Unplanned []unplannedInstance `json:"unplanned"`
}

// unplannedInstance is a recorded instance the plan leaves out, where it
// last ran.
type unplannedInstance struct {
	Instance string `json:"instance"`
	State    string `json:"state"`
	Offset   int    `json:"offset"`
}

// planMove is one instance the host moved: where the planner put it, and
// the offset it passed over for a busy port.
type planMove struct {
	Instance string `json:"instance"`
	Offset   int    `json:"offset"`
	movedInfo
}

// newConflictsReport is the check of t's plan that found report, with
// the instances the planner moved, the ports nothing could check, the
// servers found in homes (nil: none) and the instances f records that the
// plan leaves out.
func newConflictsReport(t *reconcile.Target, f *state.File, report check.Report, inHomes []serverInHome) conflictsReport {
	moves := []planMove{}
	for _, inst := range t.Plan.Instances {
		if m := inst.Moved; m != nil {
			moves = append(moves, planMove{Instance: inst.Name, Offset: inst.Offset, movedInfo: *newMovedInfo(t, m)})
		}
	}
	if inHomes == nil {
		inHomes = []serverInHome{}
	}
	left := []unplannedInstance{}
	for _, rec := range unplanned(t, f) {
		left = append(left, unplannedInstance{Instance: rec.Name, State: liveState(rec), Offset: rec.Offset})
	}
	return conflictsReport{Report: report, Moves: moves, RunTime: runTimePorts(t), ServersInHomes: inHomes, Unplanned: left}
}

func runCheckConflicts(ctx context.Context, streams *IOStreams, o *checkConflictsOptions, p *planned) error {
	printNote(streams, unsupervised(p.state))
	report := p.Conflicts()
	metricsBusy, err := metricsAddrConflict(ctx, p.Target)
	if err != nil {
		return err
	}
	if metricsBusy != nil {
		report.Conflicts = append(report.Conflicts, *metricsBusy)
	}
	inHomes, err := serversInHomes(p.Target, p.state)
	if err != nil {
		return err
	}
	checked := newConflictsReport(p.Target, p.state, report, inHomes)
	if o.output == formatJSON {
		if err := writeJSON(streams.Out, checked); err != nil {
			return err
		}
	} else {
		for _, c := range report.Conflicts {
			fmt.Fprintf(streams.Out, "conflict: %s\n", c.Message)
		}
		for _, w := range report.Warnings {
			fmt.Fprintf(streams.Out, "warning: %s\n", w.Message)
		}
		for _, n := range moveNotes(p.Target, nil) {
			fmt.Fprintf(streams.Out, "moved: %s\n", n)
		}
		for _, n := range slices.Concat(runTimeNotes(p.Target), shippedNotes(p.Target, report.Conflicts), unplannedNotes(p)) {
			fmt.Fprintf(streams.Out, "note: %s\n", n)
		}
		for _, s := range inHomes {
			fmt.Fprintf(streams.Out, "in use: %s\n", s.Message)
		}
		inUse := ""
		if len(inHomes) > 0 {
			inUse = ", " + words.Count(len(inHomes), "home") + " in use"
		}
		fmt.Fprintf(streams.Out, "%s checked against %s (%s): %s, %s, %s%s\n",
			words.Count(len(p.Plan.Instances), "instance"), words.Count(len(p.Host.Sockets.Sockets), "host socket"), p.Host.Sockets.Source,
			words.Count(len(report.Conflicts), "conflict"), words.Count(len(report.Warnings), "warning"), words.Count(len(checked.Moves), "instance")+" moved", inUse)
	}
	// What gets a fixed offset out of a conflict's way, as a refused up
	// says it: a conflict alone named the parties, and left the operator
	// to find where the offset came from and what moves it.
	for _, hint := range refusalHints(p.Target, p.state, report) {
		fmt.Fprintf(streams.ErrOut, "hint: %s\n", hint)
	}
	if !report.OK() || len(inHomes) > 0 {
		return errReported
	}
	return nil
}

// shippedNotes name where each CApp of the distribution's own that a
// conflict of findings names comes from: no mictl.toml declares it.
func shippedNotes(t *reconcile.Target, findings []check.Finding) []string {
	var out []string
	for _, app := range t.Shipped {
		named := slices.ContainsFunc(findings, func(f check.Finding) bool {
			return slices.ContainsFunc(f.Parties, func(p check.Party) bool {
				return p.Listener != nil && strings.HasPrefix(*p.Listener, app.ID()+"/")
			})
		})
		if named {
			out = append(out, fmt.Sprintf("%s is shipped in %s, which every instance gets from the distribution", app.ID(), app.Path))
		}
	}
	return out
}
