package deploytoml

import (
	"bytes"
	"reflect"

	toml "github.com/pelletier/go-toml/v2"
)

// SameSettings reports whether a and b, two deployment.toml files, set the
// same keys to the same values, whatever else differs (comments, blank
// lines, spacing, key order, quoting, line ends): MI reads only the
// settings, and only at start, so it cannot tell such files apart. Files
// that do not both parse are the same only byte for byte.
func SameSettings(a, b []byte) bool {
	// The usual case (a home's file as mictl rendered it, compared with
	// the file rendered again): equal bytes set the same, unparsed.
	if bytes.Equal(a, b) {
		return true
	}
	var sa, sb map[string]any
	if toml.Unmarshal(bytes.TrimPrefix(a, bom), &sa) != nil || toml.Unmarshal(bytes.TrimPrefix(b, bom), &sb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(sa, sb)
}
