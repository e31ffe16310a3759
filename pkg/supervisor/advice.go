package supervisor

import (
	"path/filepath"
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
// last error, a reload's error) names it: with the --config of the
// configuration it follows (Follow.Advised).
func (s *Supervisor) asRun(command string) string { return AsRun(s.advised, command) }
