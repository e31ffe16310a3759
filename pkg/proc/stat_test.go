package proc

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// statTail is fields 3.. of a real /proc/<pid>/stat line (a sleep process):
// state S, ppid 100, pgrp 200, session 300, utime 11, stime 12, cutime 13,
// cstime 14, 1 thread, start time 92329 (field 22), rss 357 pages.
const statTail = "S 100 200 300 0 -1 4194304 97 0 0 0 11 12 13 14 20 0 1 0 92329 3133440 357 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"

func TestParseStat(t *testing.T) {
	want := func(pid int, comm string) Stat {
		return Stat{PID: pid, PPID: 100, PGID: 200, SID: 300, State: 'S', StartTime: 92329, Comm: comm,
			UTime: 11, STime: 12, CUTime: 13, CSTime: 14, Threads: 1, RSSPages: 357}
	}
	tests := []struct {
		name string
		line string
		want Stat
	}{
		{"plain", "42 (sleep) " + statTail, want(42, "sleep")},
		{"space in comm", "42 (my prog) " + statTail, want(42, "my prog")},
		{"paren in comm", "42 ((a) b)) " + statTail, want(42, "(a) b)")},
		{"comm looks like fields", "42 (x) S 1 2 3) " + statTail, want(42, "x) S 1 2 3")},
		{"empty comm", "42 () " + statTail, want(42, "")},
		{"no trailing newline", "42 (sleep) " + strings.TrimSuffix(statTail, "\n"), want(42, "sleep")},
		{"zombie", "7 (java) Z" + statTail[1:], Stat{PID: 7, PPID: 100, PGID: 200, SID: 300, State: 'Z', StartTime: 92329, Comm: "java",
			UTime: 11, STime: 12, CUTime: 13, CSTime: 14, Threads: 1, RSSPages: 357}},
		{"max start time", "42 (sleep) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 18446744073709551615 0 0",
			Stat{PID: 42, PPID: 1, PGID: 1, SID: 1, State: 'S', StartTime: 1<<64 - 1, Comm: "sleep", Threads: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.line))
			if err != nil {
				t.Fatalf("parseStat: %v", err)
			}
			if got != tt.want {
				t.Errorf("parseStat =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestParseStatErrors(t *testing.T) {
	tests := []struct{ name, line string }{
		{"empty", ""},
		{"no comm", "42 sleep S 1 2 3"},
		{"unclosed comm", "42 (sleep S 1 2 3"},
		{"bad pid", "x42 (sleep) " + statTail},
		{"too few fields", "42 (sleep) S 1 2 3 0 -1"},
		{"cut before start time", "42 (sleep) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0"},
		{"cut before rss", "42 (sleep) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0"},
		{"bad utime", "42 (sleep) S 1 2 3 0 -1 0 0 0 0 0 x 0 0 0 20 0 1 0 5 0 0"},
		{"bad threads", "42 (sleep) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 x 0 5 0 0"},
		{"bad ppid", "42 (sleep) S x 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0"},
		{"bad state", "42 (sleep) SS 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0"},
		{"negative start time", "42 (sleep) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5 0 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := parseStat([]byte(tt.line)); err == nil {
				t.Errorf("parseStat(%q) = %+v, want an error", tt.line, s)
			}
		})
	}
}

func TestStatExited(t *testing.T) {
	for state, want := range map[byte]bool{'R': false, 'S': false, 'D': false, 'T': false, 'I': false, 'Z': true, 'X': true} {
		if got := (Stat{State: state}).Exited(); got != want {
			t.Errorf("Stat{State: %q}.Exited() = %v, want %v", state, got, want)
		}
	}
}

func TestClockTicksMatchesGetconf(t *testing.T) {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		t.Skipf("getconf CLK_TCK: %v", err)
	}
	want, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("getconf CLK_TCK printed %q", out)
	}
	if got := ClockTicks(); got != want {
		t.Errorf("ClockTicks() = %d, getconf CLK_TCK = %d", got, want)
	}
}
