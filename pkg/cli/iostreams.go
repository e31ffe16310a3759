package cli

import (
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the command's standard streams. Data goes to Out, progress
// and errors to ErrOut, so `mictl ... -o json | jq` always works.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// ErrTTY is true when ErrOut is a terminal: progress may then redraw
	// lines in place.
	ErrTTY bool
	// OutTTY is true when Out is a terminal.
	OutTTY bool
}

// Color reports whether output may be colored: only on a terminal, and
// never when NO_COLOR is set to a non-empty value (https://no-color.org).
func (s *IOStreams) Color() bool {
	return s.OutTTY && os.Getenv("NO_COLOR") == ""
}

// System returns the process's own streams.
func System() *IOStreams {
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, ErrTTY: term.IsTerminal(int(os.Stderr.Fd())), OutTTY: term.IsTerminal(int(os.Stdout.Fd()))}
}
