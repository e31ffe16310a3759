package logs

import (
	"strings"
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 25, 15, 0, 0, 0, time.Local)
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "10m", want: now.Add(-10 * time.Minute)},
		{in: "2h", want: now.Add(-2 * time.Hour)},
		{in: " 1h30m ", want: now.Add(-90 * time.Minute)},
		{in: "0s", want: now},
		{in: "2d", want: now.AddDate(0, 0, -2)},
		{in: "2026-11-25T14:04:05Z", want: time.Date(2026, 11, 25, 14, 4, 5, 0, time.UTC)},
		{in: "2026-11-25T14:04:05.5+01:00", want: time.Date(2026, 11, 25, 13, 4, 5, 5e8, time.UTC)},
		{in: "2026-11-25 14:04:05", want: time.Date(2026, 11, 25, 14, 4, 5, 0, time.Local)},
		{in: "2026-11-25 14:04:05,123", want: time.Date(2026, 11, 25, 14, 4, 5, 123e6, time.Local)},
		{in: "2026-11-25T14:04:05", want: time.Date(2026, 11, 25, 14, 4, 5, 0, time.Local)},
		{in: "2026-11-25", want: time.Date(2026, 11, 25, 0, 0, 0, 0, time.Local)},
		{in: "", bad: true},
		{in: "-5m", bad: true},
		{in: "ten minutes", bad: true},
		{in: "2026-13-01 00:00:00", bad: true},
		{in: "yesterday", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseSince(tt.in, now)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseSince(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		line string
		want time.Time
		ok   bool
	}{
		{"[2026-11-25 15:04:05,123]  INFO {org.wso2.micro.integrator} - WSO2 Micro Integrator started in 7.52 seconds",
			time.Date(2026, 11, 25, 15, 4, 5, 123e6, time.Local), true},
		{"[2026-11-25 15:04:05,000]", time.Date(2026, 11, 25, 15, 4, 5, 0, time.Local), true},
		{"\tat java.base/java.lang.Thread.run(Thread.java:840)", time.Time{}, false},
		{"[ERROR] JAVA_HOME is not set", time.Time{}, false},
		{"[2026-11-25 15:04:05]  INFO no milliseconds", time.Time{}, false},
		{"[2026-13-25 15:04:05,123] bad month", time.Time{}, false},
		{"[2026-11-25T15:04:05,123] bad separator", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseTimestamp(tt.line)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ParseTimestamp(%q) = %v, %v; want %v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSinceFilterContinuationLines(t *testing.T) {
	log := `JAVA_HOME=/usr/lib/jvm/java-17
[2026-11-25 15:00:00,000]  INFO {Carbon} - old line
java.net.BindException: Address already in use
	at sun.nio.ch.Net.bind(Net.java:555)
[2026-11-25 15:05:00,000] ERROR {Axis2} - exactly at since
java.lang.IllegalStateException: boom
	at Foo.bar(Foo.java:1)
[2026-11-25 15:04:59,999]  WARN {Carbon} - clock went back: dropped
[ERROR] script: continuation of a dropped record
[2026-11-25 15:06:00,000]  INFO {Carbon} - WSO2 Micro Integrator started in 7.52 seconds
[ERROR] script: continuation of a kept record`
	want := []string{
		"JAVA_HOME=/usr/lib/jvm/java-17", // before any timestamp: kept
		"[2026-11-25 15:05:00,000] ERROR {Axis2} - exactly at since",
		"java.lang.IllegalStateException: boom",
		"\tat Foo.bar(Foo.java:1)",
		"[2026-11-25 15:06:00,000]  INFO {Carbon} - WSO2 Micro Integrator started in 7.52 seconds",
		"[ERROR] script: continuation of a kept record",
	}
	f := NewSinceFilter(time.Date(2026, 11, 25, 15, 5, 0, 0, time.Local))
	var got []string
	for line := range strings.SplitSeq(log, "\n") {
		if f.Keep(line) {
			got = append(got, line)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("kept:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	all := NewSinceFilter(time.Time{})
	for line := range strings.SplitSeq(log, "\n") {
		if !all.Keep(line) {
			t.Errorf("zero since dropped %q", line)
		}
	}
}
