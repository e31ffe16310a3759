package supervisor

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/shellword"
)

// Mictl is mictl as a pasted command names it to act on the
// configuration file file: with --config unless file is the one a plain
// mictl finds ("" or mictl.toml, where the command is pasted).
func Mictl(file string) string {
	if file == "" || file == config.DefaultFile {
		return "mictl"
	}
	return "mictl --config " + shellword.Quote(file)
}

// AsRun is command, a mictl command line that advice names ("mictl up
// --instances=3", "mictl restart mi-2"), as it is pasted to act on the
// configuration file file (see Mictl); anything else as it is.
func AsRun(file, command string) string {
	rest, ok := strings.CutPrefix(command, "mictl ")
	if !ok {
		return command
	}
	return Mictl(file) + " " + rest
}

// AdvisedFile is the configuration file a supervisor following file (an
// absolute path) names in its advice (see asRun), for a reader it cannot
// see: "" when file is the mictl.toml of dir, the directory of the
// command that started it (the user works there, and a plain mictl there
// reads it, as status then says a plain mictl up), else file itself,
// absolute: right from any directory. A daemon started by `mictl
// --config ops/prod.toml up` advised a plain mictl up, which reads
// another mictl.toml, or none.
func AdvisedFile(file, dir string) string {
	if file == filepath.Join(dir, config.DefaultFile) {
		return ""
	}
	return file
}

// asRun is command as the supervisor's advice (its events, an instance's
// last error, a reload's error) names it: for the deployment it
// supervises (Follow.Deployment, see AsRunFor).
func (s *Supervisor) asRun(command string) string { return s.advised().AsRun(command) }

// advised is how the supervisor's advice names its deployment, read once
// until an up or a reload (see upCommands): a running instance degraded
// by a port a stranger holds names it at every health check.
func (s *Supervisor) advised() Advised { return s.ups.advisedFor(s.deployment) }

// DeploymentArgs name, as a daemon's arguments do for AsRunFor, the
// deployment of the configuration file file ("" for none) and the
// instances directory dir, each made absolute: right from any directory.
func DeploymentArgs(file, dir string) []string {
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	args := []string{"--instances-dir", abs(dir)}
	if file != "" {
		args = append(args, "--config", abs(file))
	}
	return args
}

// AsRunFor is command, a mictl command line, as advice pasted where this
// process runs names it for the deployment of a daemon run with args
// (RunFlags.Args: --config or --follow-dir, and --instances-dir; or
// DeploymentArgs): with --config unless the file is this directory's
// mictl.toml (see AdvisedFile), and with --instances-dir when the
// configuration so named, read here, puts its instances elsewhere (a
// flag gave the daemon's, or another shell's environment). A bare mictl
// status, pasted after mictl --config ops/prod.toml up, read another
// mictl.toml (or none) and looked for instances where none run.
func AsRunFor(args []string, command string) string {
	return advisedFor(args).AsRun(command)
}

// Advised is how advice names a deployment (see AsRunFor): the
// configuration file it gives with --config ("" for none) and the
// instances directory it gives with --instances-dir ("" for none).
type Advised struct {
	File, InstancesDir string
}

// advisedFor is how advice names the deployment of a daemon run with
// args. It reads the configuration file: the supervisor keeps the answer
// (upCommands.advisedFor) rather than read it for every piece of advice.
func advisedFor(args []string) Advised {
	flag := func(name string) string {
		if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	a := Advised{File: flag("--config")}
	if here, err := os.Getwd(); err == nil && a.File != "" {
		a.File = AdvisedFile(a.File, here)
	}
	theirs := flag("--instances-dir")
	if theirs == "" {
		return a
	}
	// Where the pasted command looks: a broken file still says where, as
	// for the command that reads it (config.LoadLenient).
	if cfg, _, err := config.LoadLenient(config.Sources{Path: a.File}); err == nil {
		if ours, err := filepath.Abs(cfg.InstancesDir); err == nil && ours == theirs {
			return a
		}
	}
	a.InstancesDir = theirs
	return a
}

// AsRun is command, a mictl command line, as a names its deployment.
func (a Advised) AsRun(command string) string {
	if a.InstancesDir == "" || !strings.HasPrefix(command, "mictl ") {
		return AsRun(a.File, command)
	}
	return AsRun(a.File, withFlag(command, "--instances-dir "+shellword.Quote(a.InstancesDir)))
}

// withFlag is command, a mictl command line, with flag right after its
// verb, where the verb's flags go, and before what follows: advice may go
// on in words ("mictl up, once mictl.toml or its flags name mi-3,"), and
// a flag at the end would land among them.
func withFlag(command, flag string) string {
	rest := strings.TrimPrefix(command, "mictl ")
	verb := strings.IndexFunc(rest, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r == '-') })
	if verb < 0 {
		verb = len(rest)
	}
	return "mictl " + rest[:verb] + " " + flag + rest[verb:]
}
