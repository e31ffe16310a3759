// Package home prepares each instance's own MI home under instances_dir.
// It writes only below the instance's directory and never into the source
// distribution: two instances can never share one MI_HOME (docs/mi-facts.md,
// "Start, stop, files").
package home

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/fsutil"
)

// StartScript is MI's start script inside a distribution or a home
// (docs/mi-facts.md: a sh script that starts java as a child, in a loop while it
// exits 121).
const StartScript = "bin/micro-integrator.sh"

// ConfPath is where an instance home keeps its deployment.toml.
func ConfPath(dir string) string {
	return filepath.Join(dir, "conf", "deployment.toml")
}

// renderedCopy is where a home keeps the deployment.toml mictl last
// rendered into it, mode 0600 as the file itself: a restart after a crash
// puts the file back from it when it is gone (see RestoreConf).
const renderedCopy = ".mictl-deployment.toml"

// EditedConfPath is where WriteConf keeps a home's conf/deployment.toml
// edited in the home when it renders the file again (see ConfEdited): the
// last edit kept, those kept before it numbered (see KeptEdit).
func EditedConfPath(dir string) string { return ConfPath(dir) + ".edited" }

// keptEdits is how many edits of a home's deployment.toml WriteConf
// keeps in all: each is a copy full of passwords, and MI's cipher tool,
// run again after each render, makes one per render, which piled up
// without end.
const keptEdits = 3

// KeptEdit says where WriteConf kept a home's deployment.toml edited
// there: Path is EditedConfPath, and Earlier, when an edit kept there
// before was moved away for it, where that one is now, EditedConfPath.1
// (the older at .2, up to keptEdits in all, the oldest removed). A second
// edit replaced the first one kept without a word. Both empty when
// nothing was kept.
type KeptEdit struct {
	Path, Earlier string
	// Unrecorded is set when the home keeps no record of what mictl
	// rendered there last (an older mictl rendered it, see ConfEdited):
	// the file kept differs from the new render, but whether by an edit
	// or by the older render cannot be told, and a warning must not
	// claim an edit.
	Unrecorded bool
}

// String is where the edit is kept as a warning says it, with where the
// one kept there before went: the operator looked for it where it was.
func (k KeptEdit) String() string {
	if k.Earlier == "" {
		return k.Path
	}
	return fmt.Sprintf("%s (the edit kept there before is now %s), the last %d edits kept, the older numbered higher", k.Path, k.Earlier, keptEdits)
}

// ConfEdited returns the home's conf/deployment.toml when it differs from
// the one mictl last rendered there (its copy): edited in the home since,
// by hand or by a tool such as MI's cipher tool, which encrypts its
// passwords in place. mictl owns that file and renders it again, so such
// an edit must not vanish unsaid. A home with no copy (rendered by an
// older mictl, see unrecorded) or without the file tells nothing: not
// edited.
func ConfEdited(dir string) (current []byte, edited bool) {
	current, err := os.ReadFile(ConfPath(dir))
	if err != nil {
		return nil, false
	}
	rendered, err := os.ReadFile(filepath.Join(dir, renderedCopy))
	if err != nil || len(rendered) == 0 {
		return nil, false // no copy, or one cut short: nothing to compare
	}
	return current, !bytes.Equal(current, rendered)
}

// unrecorded returns the home's conf/deployment.toml when the home has no
// copy of what mictl rendered there at all: an older mictl, which kept
// none, rendered it. Whether it was edited since cannot be told. An empty
// copy is no such home: WriteConf empties it while it renders (see
// there), and a power failure may leave it so; mictl rendered the file.
func unrecorded(dir string) (current []byte, ok bool) {
	if _, err := os.Lstat(filepath.Join(dir, renderedCopy)); !errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	current, err := os.ReadFile(ConfPath(dir))
	return current, err == nil
}

// WriteConf writes an instance's rendered deployment.toml into its home at
// dir, and its copy (renderedCopy), each atomically and with mode 0600 (it
// holds keystore passwords). It refuses a dir that is, or is inside, the
// source distribution miHome. A file edited in the home since mictl
// rendered it, which rendered replaces, is kept first at EditedConfPath
// (mode 0600 too), as a package manager keeps an edited configuration
// file it replaces; kept says where (see KeptEdit). So is a file of a
// home with no copy (see unrecorded) that differs from rendered: an edit
// made there before mictl kept copies was otherwise replaced unsaid.
func WriteConf(dir, miHome string, rendered []byte) (kept KeptEdit, err error) {
	if err := outsideSource(dir, miHome); err != nil {
		return KeptEdit{}, err
	}
	current, edited := ConfEdited(dir)
	noRecord := false
	if !edited {
		current, noRecord = unrecorded(dir)
	}
	if (edited || noRecord) && !bytes.Equal(current, rendered) {
		if kept, err = keepEdit(dir, current); err != nil {
			return KeptEdit{}, fmt.Errorf("keep %s, which differs from what mictl renders, before rendering it again: %w", ConfPath(dir), err)
		}
		kept.Unrecorded = noRecord
	}
	// The copy tells an edit (ConfEdited), so it must never differ from
	// the file but by an edit: one left as it was while the file was
	// replaced (a copy that could not be written, mictl killed in
	// between) took mictl's own render for an edit at the next, and kept
	// it as one. So it is emptied before the file changes: a failure or a
	// kill from then on leaves an empty copy, read as "not edited", which
	// holds (an edit was kept above). Emptied, not removed: no copy at
	// all is a home an older mictl rendered (unrecorded), so a new home
	// gets its empty copy first too. A home an older mictl rendered keeps
	// its lack of one until the file is rendered: a write there would
	// fail first on a home the user cannot write, naming mictl's hidden
	// copy rather than the file. Nor is it ever ahead of the file, which a
	// crash restart puts back from it (RestoreConf).
	copyPath := filepath.Join(dir, renderedCopy)
	if !fsutil.Holds(ConfPath(dir), rendered, 0o600) {
		if _, older := unrecorded(dir); older {
			// an older mictl's home: nothing to empty
		} else if err := deploytoml.WriteFile(copyPath, nil); err != nil {
			return KeptEdit{}, fmt.Errorf("empty %s, mictl's copy of the file it rendered last, to render again %s: %w", copyPath, ConfPath(dir), fsutil.Cause(err))
		}
		if err := deploytoml.WriteFile(ConfPath(dir), rendered); err != nil {
			return KeptEdit{}, err
		}
	}
	return kept, deploytoml.WriteFile(copyPath, rendered)
}

// keepEdit keeps current, the home dir's deployment.toml edited there, at
// EditedConfPath, first moving the edits kept before one number up (see
// KeptEdit). The same edit kept already (a render that failed after
// keeping it) is kept once.
func keepEdit(dir string, current []byte) (KeptEdit, error) {
	kept := KeptEdit{Path: EditedConfPath(dir)}
	if fsutil.Holds(kept.Path, current, 0o600) {
		return kept, nil
	}
	switch _, err := os.Lstat(kept.Path); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return KeptEdit{}, fmt.Errorf("look at %s, the edit kept before: %w", kept.Path, fsutil.Cause(err))
	default:
		if kept.Earlier, err = numberUp(kept.Path); err != nil {
			return KeptEdit{}, err
		}
	}
	if err := deploytoml.WriteFile(kept.Path, current); err != nil {
		return KeptEdit{}, err
	}
	return kept, nil
}

// numberUp moves the edit kept at path to path.1, and each kept at
// path.N to path.N+1, the one at the last number keptEdits allows
// replaced: path.1 is where the edit at path is now. Renames, from the
// oldest, so that whatever stops mictl each edit is in one place or the
// next; a number found free (an edit deleted) is skipped, not filled:
// filled with the newest, it read as older than those above it.
func numberUp(path string) (string, error) {
	numbered := func(n int) string {
		if n == 0 {
			return path
		}
		return fmt.Sprintf("%s.%d", path, n)
	}
	for n := keptEdits - 2; n >= 0; n-- {
		from, to := numbered(n), numbered(n+1)
		if err := os.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("move %s, an edit kept before, to %s: %w", from, to, fsutil.Cause(err))
		}
	}
	return numbered(1), nil
}

// RestoreConf readies the home dir for a server's restart after a crash:
// when its conf/deployment.toml is gone (deleted while the server ran),
// it puts back the one mictl last rendered there, from its copy, and
// reports that it did. Rendering it again instead would apply what
// changed in the configuration and the distribution since, which a crash
// restart must not do unasked (see Restore). Without the file MI would
// not run on the instance's offset and ports: with no copy to put back
// (a home an older mictl rendered), it fails saying how to render it.
func RestoreConf(dir string) (restored bool, err error) {
	path := ConfPath(dir)
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return false, nil // there, or for the start to say what is wrong with it
	}
	rendered, err := os.ReadFile(filepath.Join(dir, renderedCopy))
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && len(rendered) == 0):
		// Empty: cut short by a power failure (it is written without fsync).
		return false, fmt.Errorf("%s is gone (deleted while the server ran), and the home keeps no copy of it to put back; mictl up renders it and starts the instance again", path)
	case err != nil:
		return false, fmt.Errorf("%s is gone (deleted while the server ran), and its copy cannot be read: %w; mictl up renders it and starts the instance again", path, fsutil.Cause(err))
	}
	if err := deploytoml.WriteFile(path, rendered); err != nil {
		return false, fmt.Errorf("put back %s: %w; mictl up renders it and starts the instance again", path, fsutil.Cause(err))
	}
	return true, nil
}

// Dir returns the home of the named instance, refusing names that could
// escape instances_dir.
func Dir(cfg *config.Config, name string) (string, error) {
	if err := config.ValidateName(name); err != nil {
		return "", err
	}
	return cfg.InstanceDir(name), nil
}

func outsideSource(dir, miHome string) error {
	if miHome == "" {
		return nil
	}
	// Compare real paths: a symlink (instances -> /opt/mi/instances) must
	// not smuggle a home into the distribution.
	absDir, err1 := resolve(dir)
	absSrc, err2 := resolve(miHome)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("resolve %s and %s: %w", dir, miHome, errors.Join(err1, err2))
	}
	rel, err := filepath.Rel(absSrc, absDir)
	if err == nil && (rel == "." || filepath.IsLocal(rel)) {
		return fmt.Errorf("instance home %s is inside the source distribution %s: mictl never writes there; set instances_dir outside mi_home", dir, miHome)
	}
	return nil
}

// resolve returns path made absolute with every symlink of its longest
// existing prefix resolved (the rest may not exist yet).
func resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	var rest []string
	for cur := abs; ; cur = filepath.Dir(cur) {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if cur == filepath.Dir(cur) {
			return abs, nil
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
	}
}

// CarbonAppsDir is where MI's hot deployer looks for CApps (.car files)
// in a home.
func CarbonAppsDir(dir string) string {
	return filepath.Join(dir, "repository", "deployment", "server", "carbonapps")
}

// InboundEndpointsDir is where MI deploys inbound endpoints kept as plain
// synapse files, outside any CApp, in a home or a distribution at dir.
func InboundEndpointsDir(dir string) string {
	return filepath.Join(dir, "repository", "deployment", "server", "synapse-configs", "default", "inbound-endpoints")
}

// ShippedInboundEndpoints lists the inbound endpoint files (*.xml) the
// distribution at dist ships in its InboundEndpointsDir, sorted: every
// home cloned from it gets a copy, so every instance opens their ports.
func ShippedInboundEndpoints(dist string) ([]string, error) {
	return shipped(InboundEndpointsDir(dist), ".xml", "inbound endpoints")
}

// ShippedCApps lists the CApps the distribution at dist ships in its own
// carbonapps/ (an operator's distribution with its apps baked in), as
// paths below dist, sorted: every home cloned from it gets a copy, so
// every instance deploys them. Only the files MI's hot deployer takes
// count: named *.car (lower case). None when dist has no carbonapps/.
func ShippedCApps(dist string) ([]string, error) {
	return shipped(CarbonAppsDir(dist), ".car", "CApps")
}

// shipped lists the regular files named *ext in the distribution's dir
// (none when there is no such directory), sorted; what names them in an
// error.
func shipped(dir, ext, what string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil // a file on the way is for whoever writes there to say
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s, the %s the distribution ships: %w; mictl plans them for every instance: make it readable to this user", dir, what, fsutil.Cause(err))
	}
	var out []string
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if filepath.Ext(e.Name()) != ext {
			continue
		}
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			continue // a directory, or a dangling link: nothing MI deploys
		}
		out = append(out, path)
	}
	return out, nil
}

// HoldsCApps reports whether a home's carbonapps/ may hold a CApp for MI
// to deploy. MI deploys CApps from nowhere else, so when this is false
// the server has none to deploy. It errs towards true, where the cost is
// a needless question to MI rather than a wrong answer: any entry whose
// name ends in .car in any case (MI takes only files ending in lower-case
// .car), and a carbonapps/ that cannot be read.
func HoldsCApps(dir string) bool {
	entries, err := os.ReadDir(CarbonAppsDir(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	for _, e := range entries {
		if strings.EqualFold(filepath.Ext(e.Name()), ".car") {
			return true
		}
	}
	return false
}

// LogsDir is where mictl sends an instance's script output (stdout and
// stderr), one file opened for append: never a pipe through the
// supervisor, so a supervisor crash can never SIGPIPE a server.
func LogsDir(dir string) string { return filepath.Join(dir, "logs") }

// ConsoleLog is the file holding an instance's script output.
func ConsoleLog(dir string) string { return filepath.Join(LogsDir(dir), "console.log") }

// CarbonLog is MI's own log file inside an instance home.
func CarbonLog(dir string) string {
	return filepath.Join(dir, "repository", "logs", "wso2carbon.log")
}

// PIDFile is where MI writes the pid of its server JVM (docs/mi-facts.md: written
// early, never removed, so it may be stale).
func PIDFile(dir string) string { return filepath.Join(dir, "wso2carbon.pid") }

// Discard removes the home dir, which the caller created in this run
// and could not finish (a full disk cut its clone short): half a home
// left behind looked like one to every later command, and nothing had
// started or recorded it. Never for a home that existed before the run:
// it may hold the instance's own files.
func Discard(dir string) error {
	// Every directory a clone makes is writable by its owner (dirMode),
	// so nothing in it stops the removal.
	return os.RemoveAll(dir)
}
