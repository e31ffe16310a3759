// Package cli holds mictl's commands. Each command has an options struct
// and a run function that takes its IO streams, so tests drive commands
// in-process exactly as a user would, without a subprocess.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/exitcode"
	"github.com/mictl/mictl/pkg/proc"
	"github.com/mictl/mictl/pkg/words"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	configPath string
}

// exitInterrupted is said in the Exit status paragraph of every command
// that has one: a signal interrupts any command (the README's exit-code
// table), and a script author reading only that command's help took its
// list for all it exits with.
// It starts a line of its own, short enough to need no wrapping.
const exitInterrupted = "130 on Ctrl-C (SIGINT) and 143 on SIGTERM (128 + the signal)"

// NewRootCmd builds the mictl command tree writing to streams.
func NewRootCmd(streams *IOStreams) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "mictl",
		Short: "Run many WSO2 Micro Integrator servers side by side on one host",
		Long: `mictl runs many WSO2 Micro Integrator servers side by side on one host. It
plans a port offset for every instance so that no two instances (and nothing
else on the host) share a port, explains every conflict it finds, generates
each instance's home and deployment.toml from the distribution's own file,
starts the instances, keeps them alive (a supervisor daemon restarts crashed
servers and follows mictl.toml live), and stops them gracefully.

With no mi_home configured, mictl uses its built-in Micro Integrator simulator,
so every command works on a machine without Java.

Exit codes:
  0  success
  1  conflicts found, or a check failed (diff: something would change)
  2  bad command line, configuration or input
  3  runtime failure
  130  interrupted by Ctrl-C (SIGINT), 143 by SIGTERM (128 + the signal);
       mictl says what goes on`,
		Example: `  mictl up --instances 3
  mictl ports table
  mictl check-conflicts --offsets 10,47
  mictl logs mi-1 -f
  mictl down`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.PersistentFlags().StringVar(&g.configPath, "config", "", "config file (default ./mictl.toml; none is fine)")
	// Flag errors are usage errors: exit 2 like every other bad input.
	root.SetFlagErrorFunc(flagError)
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		if readsSettings(cmd) {
			warnEnvTypos(streams.ErrOut, os.Environ())
		}
	}
	root.SuggestionsMinimumDistance = 2
	root.AddCommand(
		newCmdInit(streams, g),
		newCmdCheckConflicts(streams, g),
		newCmdPorts(streams, g),
		newCmdGenerate(streams, g),
		newCmdUp(streams, g),
		newCmdDown(streams, g),
		newCmdStatus(streams, g),
		newCmdRestart(streams, g),
		newCmdLogs(streams, g),
		newCmdReload(streams, g),
		newCmdDiff(streams, g),
		newCmdDaemon(streams),
		newCmdExport(streams, g),
		newCmdVersion(streams),
		newCmdSim(streams),
		newCmdTop(streams, g),
		newCmdInspect(streams, g),
		newCmdApps(streams, g),
		newCmdDeploy(streams, g),
		newCmdUndeploy(streams, g),
	)
	// mictl --version, as gh and docker take it; the version is read only
	// when asked for (every mictl process, each simulated server included,
	// builds this tree).
	root.Version = "unknown"
	cobra.AddTemplateFunc("mictlVersion", func() string { return buildVersion().String() })
	root.SetVersionTemplate("{{mictlVersion}}\n")
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	completeFlagValues(root)
	completeArgumentsTaken(root)
	for _, c := range root.Commands() {
		if c.Name() == "help" {
			refuseUnknownTopics(c)
		}
		if c.Name() == "completion" {
			asGroup(c)
			c.Example = `  # bash, for this shell
  source <(mictl completion bash)
  # bash, for every new shell
  mictl completion bash > /etc/bash_completion.d/mictl
  # zsh and fish
  mictl completion zsh > "${fpath[1]}/_mictl"
  mictl completion fish > ~/.config/fish/completions/mictl.fish`
		}
	}
	return root
}

// Main runs mictl with args and returns the process exit code. Errors are
// printed once, here, prefixed with "mictl: ".
func Main(args []string, streams *IOStreams) int {
	// Whatever mictl starts (the daemon, every server) must not inherit
	// descriptors mictl itself inherited.
	proc.CloseInheritedOnExec()
	caught.Store(0)
	root := NewRootCmd(streams)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(context.WithValue(context.Background(), commandLine{}, args))
	if err == nil {
		return exitcode.OK
	}
	if errors.Is(err, errReported) {
		return exitcode.Conflicts // the findings are already printed
	}
	// cobra reports a word after mictl that is no command with a plain
	// error of its own layout; it is a usage error, said as a group's is.
	var ee *exitcode.Error
	if !errors.As(err, &ee) && strings.HasPrefix(err.Error(), "unknown command") {
		err = exitcode.Usagef("%v\nSee '%s --help'.", err, cmd.CommandPath())
		if m := cobraUnknownCommand.FindStringSubmatch(err.Error()); m != nil {
			if word, uerr := strconv.Unquote(m[1]); uerr == nil {
				err = unknownCommand(cmd, word)
			}
		}
		// cobra's search for the command takes the word after a flag
		// mictl does not know for that flag's value: `mictl --bogus
		// status mi-1` said "mi-1" was the unknown command. Its flags
		// are said as a group's are: the word typed for a command when
		// one is found past them, else the flag.
		if perr := cmd.ParseFlags(args); perr != nil {
			err = flagError(cmd, perr)
		}
	}
	fmt.Fprintf(streams.ErrOut, "mictl: %v\n", err)
	if code := exitcode.Of(err); code != exitcode.Interrupted {
		return code
	}
	return exitcode.Signalled(caughtSignal())
}

// cobraUnknownCommand is cobra's error for a word that is none of the
// root's commands: unknown command "stauts" for "mictl" ...
var cobraUnknownCommand = regexp.MustCompile(`^unknown command ("(?:[^"\\]|\\.)*") for `)

// unknownCommand is the usage error for word, which is none of c's
// subcommands, with those it is close to, on one line as mictl's other
// errors: unknown command "stauts"; did you mean status?
func unknownCommand(c *cobra.Command, word string) error {
	what := fmt.Sprintf("unknown command %q", word)
	if c.HasParent() {
		what += fmt.Sprintf(" for %q", c.CommandPath())
	}
	return exitcode.Usagef("%s%s\nSee '%s --help'.", what, didYouMean(c.SuggestionsFor(word), ""), c.CommandPath())
}

// commandLine is the context key under which Main hands the command
// line, as given, to flagError: a group's flag error is said of the
// word the user typed for a subcommand, which pflag, stopping at the
// first flag it does not know, never reaches.
type commandLine struct{}

// flagError is the usage error for a flag cmd could not parse. An unknown
// flag comes with the flags of cmd it is close to, as an unknown command
// does: unknown flag --instance; did you mean --instances?
func flagError(cmd *cobra.Command, err error) error {
	if cmd.HasSubCommands() {
		if gerr := groupFlagError(cmd, err); gerr != nil {
			return gerr
		}
	}
	return ownFlagError(cmd, err)
}

// ownFlagError is flagError said of cmd's own flags alone.
func ownFlagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		return exitcode.Usagef("unknown flag --%s%s\nSee '%s --help'.", name, didYouMean(flagSuggestions(cmd, name), "--"), cmd.CommandPath())
	}
	// -instances: pflag reads the shorthands i, n, s...; the user meant
	// a long flag.
	if m := unknownShorthand.FindStringSubmatch(msg); m != nil && len(m[2]) > 1 {
		if s := flagSuggestions(cmd, m[2]); len(s) > 0 {
			return exitcode.Usagef("unknown shorthand flag '%s' in -%s%s\nSee '%s --help'.", m[1], m[2], didYouMean(s, "--"), cmd.CommandPath())
		}
	}
	return exitcode.FlagError(err, cmd.CommandPath())
}

// unknownShorthand is pflag's error for a letter after a single dash that
// is no flag's shorthand: unknown shorthand flag: 'i' in -instances
var unknownShorthand = regexp.MustCompile(`^unknown shorthand flag: '(.)' in -([^=]*)`)

// groupFlagError is the usage error of a group (ports, export, sim)
// whose subcommand's flags it parsed as its own, having found no
// subcommand in the command line, nil when it has nothing better to say
// than the flag error err. `mictl ports tabel -o json`, `mictl ports -o
// json tabel` and `mictl export -o json` all said "unknown shorthand
// flag: 'o' in -o", and a script's author looked for the fault in -o,
// which the subcommands take: the fault is the word typed for a
// subcommand, said as one without flags is, or the subcommand missing.
func groupFlagError(cmd *cobra.Command, err error) error {
	line, _ := cmd.Context().Value(commandLine{}).([]string)
	// Find's error is cobra's unknown command for the root, which Main
	// has said again here: the arguments it found are the root's.
	found, args, _ := cmd.Root().Find(line)
	if found != cmd {
		return nil // not Main's command line (a test's tree), or not this group's
	}
	word, ok, stray := subcommandWord(cmd, args)
	if ok {
		if sub, _, _ := cmd.Find([]string{word}); sub != cmd {
			// A subcommand all the same, after a flag cobra took for one
			// with a value (--force kubernetes): the flag's error stands.
			return nil
		}
		return unknownCommand(cmd, word)
	}
	flag := unknownFlag(err)
	if stray != "" && stray != flag {
		// pflag stopped at a flag of a subcommand (-o), and after it is one
		// that no command of the group knows: `mictl export -o json
		// --bogus kube` said "missing subcommand before -o", and the user
		// looked at -o, then at kube. The fault is --bogus, said as it is
		// when it comes first (mictl export --bogus).
		return ownFlagError(cmd, unknownFlagError(stray))
	}
	var takers []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() && lookupFlag(sub.Flags(), flag) != nil {
			takers = append(takers, sub.Name())
		}
	}
	if len(takers) == 0 {
		return nil // no subcommand's either: unknown, as it says
	}
	return exitcode.Usagef("missing subcommand for %q before %s, a flag of %s\nSee '%s --help'.",
		cmd.CommandPath(), flag, words.And(takers), cmd.CommandPath())
}

// subcommandWord is the first word of args, a group cmd's command line
// after its path, that is no flag and no flag's value: what the user
// typed for a subcommand. A flag any of cmd's subcommands (or cmd) knows
// takes the next word as its value unless it needs none (--force). One
// none knows ends the search with no word, and is stray: whether it
// takes a value cannot be told, and taking the next word for it, as
// cobra's own search for the subcommand does, said `mictl sim --bogus
// dist foo` as the unknown command "foo" when the fault is --bogus.
func subcommandWord(cmd *cobra.Command, args []string) (word string, ok bool, stray string) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			if i+1 < len(args) {
				return args[i+1], true, ""
			}
			return "", false, ""
		case arg == "-" || !strings.HasPrefix(arg, "-"):
			return arg, true, ""
		case strings.Contains(arg, "=") || !strings.HasPrefix(arg, "--") && len(arg) > 2:
			// --out=k8s, -ojson: the value is in the word.
		default:
			f := groupFlag(cmd, arg)
			if f == nil {
				return "", false, arg
			}
			if f.NoOptDefVal == "" {
				i++
			}
		}
	}
	return "", false, ""
}

// unknownFlagError is pflag's own error for arg (--name or -x), a flag
// it does not know, as pflag says it when it meets arg first: what
// ownFlagError turns into mictl's words.
func unknownFlagError(arg string) error {
	none := pflag.NewFlagSet("", pflag.ContinueOnError)
	none.SetOutput(io.Discard)
	return none.Parse([]string{arg})
}

// groupFlag is the flag arg (--name or -x) of the group cmd or of one of
// its subcommands, nil when none has it.
func groupFlag(cmd *cobra.Command, arg string) *pflag.Flag {
	for _, c := range append([]*cobra.Command{cmd}, cmd.Commands()...) {
		if f := lookupFlag(c.Flags(), arg); f != nil {
			return f
		}
	}
	return nil
}

// lookupFlag is the flag arg (--name or -x) of flags, nil when none.
func lookupFlag(flags *pflag.FlagSet, arg string) *pflag.Flag {
	if name, ok := strings.CutPrefix(arg, "--"); ok {
		return flags.Lookup(name)
	}
	if len(arg) == 2 && arg[0] == '-' {
		return flags.ShorthandLookup(arg[1:])
	}
	return nil
}

// unknownFlag is the flag pflag's err says it does not know, as the user
// typed it: --out, or -o for "unknown shorthand flag: 'o' in -ojson";
// "" for another error.
func unknownFlag(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		return "--" + name
	}
	if m := unknownShorthand.FindStringSubmatch(msg); m != nil {
		return "-" + m[1]
	}
	return ""
}

// flagSuggestions returns the long names of cmd's visible flags that typed
// is close to, as cobra's SuggestionsFor does for commands: those at most
// two edits away or else those typed is how they begin (--instance is
// --instances, not --instances-dir too).
func flagSuggestions(cmd *cobra.Command, typed string) []string {
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && f.Deprecated == "" {
			names = append(names, f.Name)
		}
	})
	return closeTo(typed, names)
}

// fileFlags take a file (with one of these extensions, when given) and
// dirFlags a directory: shell completion offers those.
var (
	fileFlags = map[string][]string{"config": {"toml"}, "path": {"toml"}, "out": nil}
	dirFlags  = []string{"mi-home", "instances-dir"}
)

// completeFlagValues makes shell completion offer files only for the
// flags that take one (fileFlags, dirFlags): a shell offered the files
// of the working directory for --host, --offsets or --since. Flags with
// completions of their own keep them.
func completeFlagValues(cmd *cobra.Command) {
	complete := func(f *pflag.Flag) {
		if _, ok := cmd.GetFlagCompletionFunc(f.Name); ok {
			return
		}
		if exts, ok := fileFlags[f.Name]; ok {
			_ = cmd.MarkFlagFilename(f.Name, exts...)
		} else if slices.Contains(dirFlags, f.Name) {
			_ = cmd.MarkFlagDirname(f.Name)
		} else {
			_ = cmd.RegisterFlagCompletionFunc(f.Name, cobra.NoFileCompletions)
		}
	}
	cmd.LocalNonPersistentFlags().VisitAll(complete)
	cmd.PersistentFlags().VisitAll(complete)
	for _, c := range cmd.Commands() {
		completeFlagValues(c)
	}
}

// completeArgumentsTaken has every command of cmd's tree complete no
// argument past those it takes: cobra offered the working directory's
// files after mictl top or mictl ports table, which take none, and after
// mictl sim dist DIR or mictl inspect FILE.car, which take one. Within
// them, a command's own completion (instance names, .car files) or
// cobra's (files) goes on.
func completeArgumentsTaken(cmd *cobra.Command) {
	if len(cmd.ValidArgs) == 0 && !cmd.HasSubCommands() && cmd.Args != nil {
		own := cmd.ValidArgsFunction
		cmd.ValidArgsFunction = func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if c.Args(c, append(slices.Clone(args), toComplete)) != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			if own == nil {
				return nil, cobra.ShellCompDirectiveDefault
			}
			return own(c, args, toComplete)
		}
	}
	for _, c := range cmd.Commands() {
		completeArgumentsTaken(c)
	}
}

// closeTo returns the names that typed is close to, ignoring case: those
// at most two edits away or else those typed is how they begin.
func closeTo(typed string, names []string) []string {
	var near, prefixed []string
	typed = strings.ToLower(typed)
	for _, n := range names {
		name := strings.ToLower(n)
		switch {
		case config.EditDistance(typed, name) <= 2:
			near = append(near, n)
		case strings.HasPrefix(name, typed):
			prefixed = append(prefixed, n)
		}
	}
	if len(near) > 0 {
		return near
	}
	return prefixed
}

// didYouMean is "; did you mean a, b or c?" for the names in suggestions
// (each prefixed), or "" when there are none.
func didYouMean(suggestions []string, prefix string) string {
	var names []string
	for _, s := range suggestions {
		if !slices.Contains(names, prefix+s) {
			names = append(names, prefix+s)
		}
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return "; did you mean " + names[0] + "?"
	}
	return "; did you mean " + strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1] + "?"
}

// refuseUnknownTopics makes mictl help STAUTS a usage error that
// suggests the command meant, as mictl stauts is: cobra's help printed
// "Unknown help topic" and the usage, and exited 0.
func refuseUnknownTopics(help *cobra.Command) {
	show := help.Run
	help.Run = nil
	help.RunE = func(c *cobra.Command, args []string) error {
		target, rest, err := c.Root().Find(args)
		switch {
		case err != nil:
			return unknownCommand(c.Root(), args[0])
		case len(rest) > 0 && target.HasSubCommands():
			return unknownCommand(target, rest[0])
		}
		show(c, args)
		return nil
	}
}

// asGroup makes cmd a group of subcommands: alone it prints its help;
// with a word that is none of its subcommands it fails with exit 2 and
// the subcommands that word is close to (cobra itself would print the
// help and exit 0, so that "mictl ports tabel" looked like success).
func asGroup(cmd *cobra.Command) *cobra.Command {
	cmd.SuggestionsMinimumDistance = 2 // as cobra's root: "tabel" suggests "table"
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		return unknownCommand(c, args[0])
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	return cmd
}

// usageArgs wraps a cobra argument validator so that its error is a usage
// error (exit 2).
func usageArgs(validate cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := validate(cmd, args); err != nil {
			switch {
			case !cmd.HasSubCommands() && strings.HasPrefix(err.Error(), "unknown command"):
				// cobra.NoArgs takes an argument of a leaf command for a
				// subcommand it lacks.
				err = fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
			case strings.Contains(err.Error(), "arg(s)"):
				// cobra's count ("accepts 1 arg(s), received 0") does not
				// say which: the usage line names them.
				err = fmt.Errorf("usage: %s (%s given)", cmd.UseLine(), words.Count(len(args), "argument"))
			}
			return exitcode.Usagef("%v\nSee '%s --help'.", err, cmd.CommandPath())
		}
		return nil
	}
}
