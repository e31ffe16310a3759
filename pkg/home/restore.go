package home

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mictl/mictl/pkg/fsutil"
)

// Restore readies the home dir for a server's restart after a crash: it
// puts back each file an earlier Sync from the distribution at src put
// there and the home has lost since, when the distribution still holds
// the very file it was cloned from (MI's secure vault deletes
// password-tmp at every start: restarted without it, MI asks for the
// keystore password on a terminal it does not have). It is no Sync: what
// the distribution changed, added or dropped since, and directory modes,
// wait for `mictl restart` or a reload, as the configuration does; a
// crash restart must not apply them unasked. The paths of current, which
// mictl itself owns in a home (a simulated home's start script, naming
// the mictl that runs the simulator), are brought up to date with the
// distribution's as Sync would, where the home holds them as Sync left
// them.
//
// It reads only the files it puts back, not the whole distribution.
// Each file is replaced whole, and the home's list rewritten after; a
// file of the distribution that cannot be read (mi_home being upgraded)
// is left out, named in err, and the others are put back all the same:
// the home is never left half-written.
func Restore(src, dir string, current []string) (restored []string, err error) {
	if err := outsideSource(dir, src); err != nil {
		return nil, err
	}
	unlock, err := lockList(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	raw, listed, err := readCloned(dir)
	if err != nil {
		return nil, fmt.Errorf("restore %s: read its list of files from %s: %w", dir, src, fsutil.Cause(err))
	}
	lines := map[string]string{} // of the files put back: their new list line
	var errs []error
	for _, rel := range slices.Sorted(maps.Keys(listed)) {
		line, err := restoreFile(src, dir, rel, listed[rel], slices.Contains(current, rel))
		switch {
		case err != nil:
			errs = append(errs, err)
		case line != "":
			lines[rel] = line
			restored = append(restored, rel)
		}
	}
	if len(lines) > 0 {
		if err := fsutil.ReplaceFile(filepath.Join(dir, clonedList), []byte(relisted(raw, lines)), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", dir, fsutil.Cause(err)))
		}
	}
	return restored, errors.Join(errs...)
}

// restoreFile puts back the home's file rel (c, its entry in the home's
// list) from the distribution at src when the home has lost it and the
// distribution's is the one it was cloned from, or, with current, when
// the home holds it as Sync left it and the distribution's changed since;
// it returns the file's new list line, "" when it left the file alone.
func restoreFile(src, dir, rel string, c *clone, current bool) (string, error) {
	if c == nil || c.kind == kindOwn || c.kind == kindDir || perInstance[rel] || !filepath.IsLocal(rel) {
		return "", nil // a symlink, or a file whose it is cannot be told
	}
	if strings.HasPrefix(rel, filepath.ToSlash(CarbonAppsDir(""))+"/") {
		// A CApp gone from carbonapps/ was undeployed (MI's Management API
		// deletes the .car): a crash must not deploy it again.
		return "", nil
	}
	dst := filepath.Join(dir, filepath.FromSlash(rel))
	_, err := os.Lstat(dst)
	lost := errors.Is(err, fs.ErrNotExist)
	if !lost && !current {
		return "", nil
	}
	path := filepath.Join(src, filepath.FromSlash(rel))
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !fsutil.Exists(src):
		// mi_home moved away (an upgrade under way): whether the file was
		// dropped from it cannot be told.
		return "", fmt.Errorf("cannot put back %s in %s: %s, the distribution it was cloned from, is not there; `mictl restart` brings the home up to date with mi_home", rel, dir, src)
	case errors.Is(err, fs.ErrNotExist):
		return "", nil // dropped from the distribution: nothing to put back
	case err != nil:
		return "", fmt.Errorf("cannot put back %s in %s: %w; `mictl restart` copies it once %s can be read", rel, dir, fsutil.Cause(err), path)
	case !info.Mode().IsRegular():
		return "", nil
	}
	e := distEntry{rel: rel, path: path, info: info}
	restore := lost && !distChanged(e, c)
	if current {
		state, _ := judge(e, dst, c)
		restore = lost || state == homeBehind
	}
	if !restore {
		return "", nil
	}
	if lost { // with its directory, maybe
		parent, err := os.Stat(filepath.Dir(path))
		if err == nil {
			err = os.MkdirAll(filepath.Dir(dst), parent.Mode().Perm()|0o700)
		}
		if err != nil {
			return "", fmt.Errorf("cannot put back %s in %s: %w", rel, dir, fsutil.Cause(err))
		}
	}
	_, line, err := put(e, dst)
	if err != nil {
		return "", fmt.Errorf("cannot put back %s in %s: %w; `mictl restart` copies it again", rel, dir, fsutil.Cause(err))
	}
	return line, nil
}

// relisted is the home's list raw with the lines of the paths of lines
// replaced by theirs.
func relisted(raw string, lines map[string]string) string {
	var b strings.Builder
	for line := range strings.Lines(raw) {
		rel, _, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if fresh, ok := lines[rel]; ok && !strings.HasPrefix(line, listHeader) {
			line = fresh
		}
		b.WriteString(strings.TrimSuffix(line, "\n") + "\n")
	}
	return b.String()
}
