// Package declare edits the CApp declarations of mictl.toml: the
// top-level capps array, and the capps of [[instance]] tables. It is what
// `mictl deploy` and `mictl undeploy` write, the one place mictl changes
// the user's own configuration, so it changes as little as it can: the
// one array element, every comment and the layout kept (pkg/deploytoml),
// the file replaced atomically (pkg/fsutil) and only when something
// changed.
package declare

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/fsutil"
)

// The keys of mictl.toml this package edits.
const (
	cappsKey    = "capps"
	instanceKey = "instance"
	nameKey     = "name"
)

// newFileHeader opens a mictl.toml that `mictl deploy` creates.
const newFileHeader = "# mictl configuration, created by mictl deploy (mictl init writes one\n# with every setting and its default).\n"

// Scope is one capps list: the top level when Instance is "", else the
// [[instance]] table of that name.
type Scope struct {
	Instance string
}

func (s Scope) String() string {
	if s.Instance == "" {
		return "capps"
	}
	return fmt.Sprintf("[[instance]] %s capps", s.Instance)
}

// Scopes are the lists an operation on instances applies to: the top
// level when there are none.
func Scopes(instances []string) []Scope {
	if len(instances) == 0 {
		return []Scope{{}}
	}
	out := make([]Scope, len(instances))
	for i, n := range instances {
		out[i] = Scope{Instance: n}
	}
	return out
}

// Result says what an edit did to each scope.
type Result struct {
	Changed []Scope // the lists that got (or lost) the CApp
	Already []Scope // the lists that had it (Add) or lacked it (Remove) already
	// Entry is the path as written in the file (Add).
	Entry string
	// Created is true when the edit created the file.
	Created bool
	// Dropped are the [[instance]] tables Remove deleted, left with
	// nothing but their name; Named those left with nothing but their
	// name and kept, as told (keep).
	Dropped, Named []Scope
}

// Add declares the .car at car in file's scopes, creating file (and
// [[instance]] tables) when missing. The path is stored relative to the
// file's directory when the .car is below it, else absolute. A scope
// that declares the file already, whatever spelling of its path it uses,
// is left alone.
func Add(file, car string, scopes []Scope) (Result, error) {
	ed, abs, err := open(file, car)
	if err != nil {
		return Result{}, err
	}
	defer ed.close()
	r := Result{Entry: ed.entry(abs)}
	for _, s := range scopes {
		t, ok := ed.table(s)
		if ok && ed.declares(t, abs) != nil {
			r.Already = append(r.Already, s)
			continue
		}
		if !ok {
			if err := ed.doc.AppendArrayElement(instanceKey, []deploytoml.KeyValue{{Key: nameKey, Value: s.Instance}}); err != nil {
				return Result{}, fmt.Errorf("add [[instance]] %s to %s: %w", s.Instance, file, err)
			}
			t, _ = ed.table(s)
		}
		if _, err := t.AppendToArray(cappsKey, r.Entry); err != nil {
			return Result{}, fmt.Errorf("add %s to %s of %s: %w", r.Entry, s, file, err)
		}
		r.Changed = append(r.Changed, s)
	}
	r.Created = ed.created && len(r.Changed) > 0
	return r, ed.save(len(r.Changed) > 0)
}

// Remove takes the .car at car out of file's scopes: every entry that
// names it, however spelled, the capps key once it is empty, and an
// [[instance]] table left with only its name, unless keep names its
// instance (a table that alone names an instance that runs, which the
// next reload would stop without it). A scope whose table does not
// exist, or that does not declare it, is in Already. The file is written
// only when something was removed.
func Remove(file, car string, scopes []Scope, keep ...string) (Result, error) {
	ed, abs, err := open(file, car)
	if err != nil {
		return Result{}, err
	}
	defer ed.close()
	var r Result
	for _, s := range scopes {
		t, ok := ed.table(s)
		var entries []string
		if ok {
			entries = ed.declares(t, abs)
		}
		if len(entries) == 0 {
			r.Already = append(r.Already, s)
			continue
		}
		for _, e := range entries {
			if _, err := t.RemoveFromArray(cappsKey, e); err != nil {
				return Result{}, fmt.Errorf("remove %s from %s of %s: %w", e, s, file, err)
			}
		}
		// An emptied list goes with its line, unless it cannot (it shares
		// the line): then capps = [] stays, which means the same. An
		// [[instance]] table left with nothing but its name (the one Add
		// made) goes too: kept, it would declare that instance from now on
		// (a name past `instances` adds one).
		if v, _ := t.Lookup(cappsKey); len(v.([]any)) == 0 {
			if deleted, _ := t.Delete(cappsKey); deleted && slices.Contains(keep, s.Instance) {
				if t.IsBare() {
					r.Named = append(r.Named, s)
				}
			} else if deleted {
				dropped, err := t.DeleteIfBare()
				if err != nil {
					return Result{}, err
				}
				if dropped {
					r.Dropped = append(r.Dropped, s)
				}
			}
		}
		r.Changed = append(r.Changed, s)
	}
	return r, ed.save(len(r.Changed) > 0)
}

// editor is one edit of a mictl.toml.
type editor struct {
	file    string // as given
	dir     string // its directory, absolute: where relative entries start
	doc     *deploytoml.Document
	mode    fs.FileMode
	created bool // the file does not exist yet
	// lock is the file's directory, flocked from before the read to after
	// the write: deploys and undeploys run at once each edit the file as
	// the other left it (each read it before the other wrote it, and the
	// last write lost the other's declaration). The directory, not the
	// file, which a write replaces by another.
	lock *os.File
}

// close ends the edit, letting the next one read the file.
func (ed *editor) close() { _ = ed.lock.Close() }

// open reads file for an edit about the .car at car, returned absolute.
func open(file, car string) (*editor, string, error) {
	ed, err := openFile(file)
	if err != nil {
		return nil, "", err
	}
	abs, err := filepath.Abs(car)
	if err != nil {
		ed.close()
		return nil, "", err
	}
	return ed, abs, nil
}

func openFile(file string) (*editor, error) {
	absFile, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	ed := &editor{file: file, dir: filepath.Dir(absFile), mode: 0o644}
	if ed.lock, err = lockDir(ed.dir); err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			ed.close()
		}
	}()
	data, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ed.created = true
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", file, err)
	default:
		if fi, err := os.Stat(file); err == nil {
			ed.mode = fi.Mode().Perm()
		}
	}
	if ed.doc, err = deploytoml.Parse(file, data); err != nil {
		return nil, err
	}
	done = true
	return ed, nil
}

// lockDir takes an exclusive flock on dir, waiting for another mictl's
// edit to end (a few milliseconds).
func lockDir(dir string) (*os.File, error) {
	d, err := fsutil.LockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("edit the CApp declarations in %s: lock the directory against another mictl deploy or undeploy: %w", dir, err)
	}
	return d, nil
}

// entry is how the file spells the path abs: relative to its directory
// when below it, else absolute.
func (ed *editor) entry(abs string) string {
	rel, err := filepath.Rel(ed.dir, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return abs
	}
	return filepath.ToSlash(rel)
}

func (ed *editor) table(s Scope) (deploytoml.Table, bool) {
	if s.Instance == "" {
		return ed.doc.Root(), true
	}
	return ed.doc.Element(instanceKey, nameKey, s.Instance)
}

// declares returns the entries of t's capps that name abs, as mictl's
// configuration resolves them (relative to the file's directory).
func (ed *editor) declares(t deploytoml.Table, abs string) []string {
	v, _ := t.Lookup(cappsKey)
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			continue
		}
		p := filepath.FromSlash(s)
		if !filepath.IsAbs(p) {
			p = filepath.Join(ed.dir, p)
		}
		if filepath.Clean(p) == abs {
			out = append(out, s)
		}
	}
	return out
}

// save writes the document back atomically when changed, keeping the
// file's permissions (a mictl.toml may hold the management password).
func (ed *editor) save(changed bool) error {
	if !changed {
		return nil
	}
	data := ed.doc.Bytes()
	if ed.created {
		data = append([]byte(newFileHeader+"\n"), data...)
	}
	if err := fsutil.WriteFileAtomic(ed.file, data, ed.mode); errors.Is(err, fs.ErrPermission) {
		// mictl.toml is written as a new file renamed over the old: its
		// directory must be writable, not only the file.
		return fmt.Errorf("save the CApp declarations: %w; mictl edits %s to declare them: make its directory writable, or declare them in it yourself", err, ed.file)
	} else if err != nil {
		return fmt.Errorf("save the CApp declarations: %w", err)
	}
	return nil
}
