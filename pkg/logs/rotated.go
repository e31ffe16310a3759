package logs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rotated returns the rotated copies of the log at path that exist, oldest
// first, so that reading them in this order and then path itself reads the
// log from its oldest kept line to its newest. Two namings are known:
//
//   - path.1 (newest) .. path.N (oldest): what RotateIfLarger (the mictl
//     daemon, for every console.log) and logrotate make;
//   - <stem>-MM-dd-yyyy.log and <stem>-MM-dd-yyyy-i.log beside <stem>.log:
//     what MI's log4j2 CARBON_LOGFILE appender makes of wso2carbon.log
//     (filePattern wso2carbon-%d{MM-dd-yyyy}.log, also shipped with -%i;
//     log4j2's default rollover numbers a day's files upwards, the highest
//     the newest), ordered by date, then by number.
//
// Dated copies come before numbered ones: the two never mix under one
// writer. Compressed copies (.gz) are not logs to read and are left out.
// A missing directory has no copies.
func Rotated(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list rotated logs of %s: %w", path, err)
	}
	type copyOf struct {
		name  string
		day   time.Time // zero for numbered copies
		index int
	}
	var copies []copyOf
	stem, ext := strings.TrimSuffix(base, filepath.Ext(base)), filepath.Ext(base)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		if n, ok := strings.CutPrefix(name, base+"."); ok {
			if i, err := strconv.Atoi(n); err == nil && i > 0 && strconv.Itoa(i) == n {
				copies = append(copies, copyOf{name: name, index: i})
			}
			continue
		}
		if ext == "" {
			continue
		}
		rest, ok := strings.CutPrefix(name, stem+"-")
		if !ok {
			continue
		}
		if rest, ok = strings.CutSuffix(rest, ext); !ok || len(rest) < len("01-02-2006") {
			continue
		}
		day, err := time.Parse("01-02-2006", rest[:len("01-02-2006")])
		if err != nil {
			continue
		}
		index := 0
		if tail := rest[len("01-02-2006"):]; tail != "" {
			n, ok := strings.CutPrefix(tail, "-")
			if index, err = strconv.Atoi(n); !ok || err != nil || index < 0 {
				continue
			}
		}
		copies = append(copies, copyOf{name: name, day: day, index: index})
	}
	slices.SortFunc(copies, func(a, b copyOf) int {
		switch {
		case a.day.IsZero() != b.day.IsZero():
			if a.day.IsZero() {
				return 1 // numbered after dated
			}
			return -1
		case a.day.IsZero(): // path.N: the higher N, the older
			return b.index - a.index
		case !a.day.Equal(b.day):
			return a.day.Compare(b.day)
		default:
			return a.index - b.index
		}
	})
	out := make([]string, len(copies))
	for i, c := range copies {
		out[i] = filepath.Join(dir, c.name)
	}
	return out, nil
}
