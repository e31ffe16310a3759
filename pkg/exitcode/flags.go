package exitcode

import (
	"fmt"
	"regexp"
	"strings"
)

// FlagError is a usage error (exit 2) for err, a flag command could not
// parse, in the user's words, with the way to the command's help.
func FlagError(err error, command string) error {
	return Usagef("%s\nSee '%s --help'.", flagProblem(err), command)
}

// badFlagValue is pflag's message for a value its type does not parse:
// invalid argument "abc" for "--base-offset" flag: strconv.ParseInt: ...
var badFlagValue = regexp.MustCompile(`^invalid argument "(.*)" for "(.*)" flag: (strconv\.Parse(Int|Uint|Bool|Float)|strconv\.Atoi|time:)`)

// flagProblem says what is wrong with a flag in the user's words, not
// strconv's: --base-offset "abc": expected a whole number.
func flagProblem(err error) string {
	m := badFlagValue.FindStringSubmatch(err.Error())
	if m == nil {
		return err.Error()
	}
	expected := "a whole number"
	switch {
	case m[4] == "Bool":
		expected = "true or false"
	case m[4] == "Float":
		expected = "a number"
	case m[3] == "time:":
		expected = `a duration with its unit, e.g. "5s" or "500ms"`
	case strings.Contains(err.Error(), "value out of range"):
		expected = "a smaller whole number"
	case m[2] == "--offsets":
		expected = "whole numbers separated by commas, e.g. 10,20,30"
	}
	return fmt.Sprintf("%s %q: expected %s", m[2], m[1], expected)
}
