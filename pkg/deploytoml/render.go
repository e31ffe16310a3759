package deploytoml

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/ports"
)

// BasePorts returns the base port (the port at offset 0) of every role: the
// value of the role's deployment.toml key when the file sets it, else the
// catalogue default. MI adds the offset to explicit ports too (docs/mi-facts.md,
// "Ports"). A key holding anything but an integer from 1 to 65535 is an
// *Error pointing at the value, and so is a port the file gives two roles
// (listener.port = 8243, the HTTPS default): every offset shifts both
// alike, so no plan can separate them.
func (d *Document) BasePorts() (ports.Set, error) {
	set := ports.DefaultBases()
	var setHere [ports.NumRoles]bool
	for _, spec := range ports.Catalogue {
		fix := fmt.Sprintf("write the port itself (MI adds each instance's offset to it), or remove the line for MI's default, %d", spec.Base)
		p, ok, err := d.intKey(spec.TOMLKey, 1, ports.MaxPort, "a port", fix)
		if err != nil {
			return ports.Set{}, err
		}
		if ok {
			set[spec.Role], setHere[spec.Role] = p, true
		}
	}
	for _, a := range ports.Catalogue {
		for _, b := range ports.Catalogue[a.Role+1:] {
			if set[a.Role] != set[b.Role] {
				continue
			}
			// Two defaults never meet: the file set at least one of them.
			blamed, other := b, a
			if !setHere[b.Role] {
				blamed, other = a, b
			}
			n, _ := d.find(blamed.TOMLKey)
			whose := "MI's default for " + other.TOMLKey
			if setHere[other.Role] {
				whose = other.TOMLKey
			}
			e := errorAt(d.name, d.src, n.vStart, "%s = %d: %d is the %s port too (%s), and the port offset moves both alike: give each a port of its own",
				blamed.TOMLKey, set[blamed.Role], set[blamed.Role], other.Name, whose)
			e.Key = blamed.TOMLKey
			return ports.Set{}, e
		}
	}
	return set, nil
}

// InternalAPIOff is an *Error pointing at [mediation]
// internal_http_api_enable when the file sets it false (see
// ports.InternalAPINeeded), else nil.
func (d *Document) InternalAPIOff() error {
	n, ok := d.find(ports.InternalAPIEnableTOMLKey)
	if !ok || n.kind != kValue || n.val != false {
		return nil
	}
	e := errorAt(d.name, d.src, n.vStart, "%s = false: %s; remove the line or set it to true", ports.InternalAPIEnableTOMLKey, ports.InternalAPINeeded)
	e.Key = ports.InternalAPIEnableTOMLKey
	return e
}

// Offset returns [server] offset when the file sets it (ok true), else MI's
// default, ports.DefaultOffset, with ok false. A non-integer or an offset
// outside 0..65535 is an *Error pointing at the value.
func (d *Document) Offset() (offset int, ok bool, err error) {
	offset, ok, err = d.intKey(ports.OffsetTOMLKey, 0, ports.MaxPort, "a port offset", "remove the line: mictl gives each instance its own offset")
	if err != nil || !ok {
		return ports.DefaultOffset, false, err
	}
	return offset, true, nil
}

// placeholder is MI's way of taking a value from the environment or a
// system property as it starts: $env{NAME}, $sys{name}.
var placeholder = regexp.MustCompile(`\$(env|sys)\{[^}]*\}`)

// intKey reads key, what must be an integer from lo to hi. fix says what
// to write instead of a placeholder ($env{}, $sys{}), which mictl does
// not resolve: it plans ports from the number before any instance runs,
// and "must be a port, not a string" said nothing of why.
func (d *Document) intKey(key string, lo, hi int, what, fix string) (int, bool, error) {
	n, ok := d.find(key)
	if !ok {
		return 0, false, nil
	}
	bad := func(off int, format string, args ...any) (int, bool, error) {
		e := errorAt(d.name, d.src, off, format, args...)
		e.Key = key
		return 0, false, e
	}
	if n.kind != kValue {
		return bad(n.pos, "%s must be %s, an integer from %d to %d, not %s", key, what, lo, hi, withArticle(describe(n)))
	}
	if s, isString := n.val.(string); isString && placeholder.MatchString(s) {
		return bad(n.vStart, "%s = %s: mictl plans every instance's ports from this key before MI starts, and does not resolve MI's $env{} and $sys{} placeholders: %s",
			key, d.src[n.vStart:n.vEnd], fix)
	}
	v, isInt := n.val.(int64)
	if !isInt {
		return bad(n.vStart, "%s = %s: must be %s, an integer from %d to %d, not %s",
			key, d.src[n.vStart:n.vEnd], what, lo, hi, withArticle(n.typ))
	}
	if v < int64(lo) || v > int64(hi) {
		return bad(n.vStart, "%s = %d: must be %s from %d to %d", key, v, what, lo, hi)
	}
	return int(v), true, nil
}

// Render is the one call mictl makes per instance: it parses src (the
// distribution's deployment.toml, name is its path for messages), sets
// [server] offset to *offset unless offset is nil (offset_method = flag:
// the source's offset stays and -DportOffset replaces it at start), then
// applies overrides, dotted key paths to values (shallow paths first, then
// by name).
// Everything else in src comes out byte for byte. On any error, such as an
// override through an array of tables or of an unsupported type, Render
// returns no bytes and an error naming the override; an error about one
// override (a port it made no number included) is an *OverrideError.
func Render(name string, src []byte, offset *int, overrides map[string]any) ([]byte, error) {
	d, err := Parse(name, src)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	// Shallow keys first, so that [mediation] internal_https_api_port
	// creates [mediation] before mediation.internal.x would create
	// [mediation.internal]; then by name, so the output is deterministic.
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(depth(a), depth(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	seen := map[string]string{}
	for _, k := range keys {
		parts, err := splitPath(k)
		if err != nil {
			return nil, &OverrideError{Key: k, Err: fmt.Errorf("%s: override %q: %w", name, k, err)}
		}
		canon := joinPath(parts)
		if other, dup := seen[canon]; dup {
			return nil, &OverrideError{Key: k, Err: fmt.Errorf("%s: overrides %q and %q name the same key", name, other, k)}
		}
		seen[canon] = k
		// Check each override against the source as it is, so that an
		// error's line:col points into the file the user can open.
		enc, _, err := encodeValue(overrides[k])
		if err != nil {
			return nil, &OverrideError{Key: k, Err: fmt.Errorf("%s: override %q: %w", name, k, err)}
		}
		if _, err := d.edit(d.root, parts, enc); err != nil {
			return nil, &OverrideError{Key: k, Err: fmt.Errorf("override %q: %w", k, err)}
		}
		if offset != nil && canon == ports.OffsetTOMLKey {
			return nil, &OverrideError{Key: k, Err: fmt.Errorf("%s: override %q: mictl sets the port offset itself (%d); drop the override or use offset_method = flag", name, k, *offset)}
		}
	}
	if offset != nil {
		if *offset < 0 || *offset > ports.MaxPort {
			return nil, fmt.Errorf("%s: port offset %d out of range 0..%d", name, *offset, ports.MaxPort)
		}
		if err := d.Set(ports.OffsetTOMLKey, *offset); err != nil {
			return nil, fmt.Errorf("%s: set port offset: %w", name, err)
		}
	}
	for _, k := range keys {
		if err := d.Set(k, overrides[k]); err != nil {
			return nil, &OverrideError{Key: k, Err: fmt.Errorf("override %q: %w", k, err)}
		}
	}
	// An override may have put a string where MI wants a port: say so now,
	// not when MI fails to start, and as the override's fault.
	if _, err := d.BasePorts(); err != nil {
		return nil, overridden(err, seen)
	}
	if _, _, err := d.Offset(); err != nil {
		return nil, overridden(err, seen)
	}
	return d.Bytes(), nil
}

// overridden returns err, an error about a key of the rendered file, as
// the fault of the override that wrote the key, if one did (byKey maps
// the keys Render set to the overrides as given): the rendered file is
// one the user never sees, the override is what to fix.
func overridden(err error, byKey map[string]string) error {
	var bad *Error
	if !errors.As(err, &bad) || bad.Key == "" {
		return err
	}
	k, ok := byKey[bad.Key]
	if !ok {
		return err
	}
	return &OverrideError{Key: k, Err: fmt.Errorf("override %q%s", k, strings.TrimPrefix(bad.Msg, bad.Key))}
}

// WriteFile writes a rendered deployment.toml atomically with mode 0600 (it
// holds keystore and user store passwords), creating its directory (0755)
// when missing. It does not fsync: the file is rendered again at every
// start of the instance.
func WriteFile(path string, data []byte) error {
	// Every up renders every home's file again; most are unchanged.
	if fsutil.Holds(path, data, 0o600) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return fsutil.ReplaceFile(path, data, 0o600)
}

// depth is the number of keys in a path (an invalid path sorts first and
// fails in Set with its own message).
func depth(path string) int {
	parts, err := splitPath(path)
	if err != nil {
		return 0
	}
	return len(parts)
}
