package config

import (
	"slices"
	"strconv"
	"strings"

	"github.com/mictl/mictl/pkg/ports"
)

// EditDistance is the number of single-rune insertions, deletions and
// substitutions that turn a into b: how far a typo took a name from the
// one meant.
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// plannedKeys are the deployment.toml keys mictl reads to plan an
// instance's ports, or sets itself.
func plannedKeys() []string {
	keys := []string{ports.OffsetTOMLKey, ports.InternalAPIEnableTOMLKey, ports.InboundOffsetTOMLKey}
	for _, spec := range ports.Catalogue {
		keys = append(keys, spec.TOMLKey)
	}
	return keys
}

// mistypedKeys are the planned keys (plannedKeys) that the override key
// is a typo of, none when it is one or is close to none: written as it
// is, a misspelt "transport.http.listner.port" went into deployment.toml,
// MI ignored it, and the instance kept the distribution's port, without a
// word from mictl.
func mistypedKeys(key string) []string {
	keys := plannedKeys()
	if slices.Contains(keys, key) {
		return nil
	}
	return closestKeys(key, keys)
}

// closestKeys are those of keys a typo away from typed (two edits at
// most), the closest only: several when they are equally close.
func closestKeys(typed string, keys []string) []string {
	var best []string
	bestDist := 3
	for _, k := range keys {
		switch d := EditDistance(typed, k); {
		case d < bestDist:
			best, bestDist = []string{k}, d
		case d == bestDist:
			best = append(best, k)
		}
	}
	return best
}

// quotedOr is keys quoted and joined with "or": "a" or "b".
func quotedOr(keys []string) string {
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = strconv.Quote(k)
	}
	return strings.Join(quoted, " or ")
}
