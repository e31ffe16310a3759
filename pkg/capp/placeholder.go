package capp

import (
	"bufio"
	"bytes"
	"strings"
)

// FilePropertiesFile is the file, relative to the MI home, that synapse's
// FilePropertyResolver reads $FILE:key placeholders from (MI's
// -Dproperties.file.path may name another file; the simulator, and so
// mictl, model this one only: docs/mi-integrations.md).
const FilePropertiesFile = "conf/file.properties"

// FileKey is the key a $FILE:key placeholder port reads from
// FilePropertiesFile, "" for any other port.
func (i Inbound) FileKey() string {
	key, ok := strings.CutPrefix(i.Placeholder, "$FILE:")
	if !ok {
		return ""
	}
	return key
}

// FileProperty finds key in data, a Java properties file: "key=value",
// "key: value" or "key value" lines, "#" and "!" comments, the last of
// several lines for one key winning (Properties.load), without the
// format's escapes and continued lines, which a placeholder's key
// (letters, digits, '_') never needs. The value is trimmed, as the
// simulator and mictl read it as a port.
func FileProperty(data []byte, key string) (string, bool) {
	var value string
	found := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		end := strings.IndexAny(line, "=: \t\f")
		if end < 0 {
			end = len(line) // a key alone: its value is empty
		}
		if line[:end] != key {
			continue
		}
		rest := strings.TrimLeft(line[end:], " \t\f")
		if rest != "" && (rest[0] == '=' || rest[0] == ':') {
			rest = rest[1:]
		}
		value, found = strings.TrimSpace(rest), true
	}
	return value, found
}
