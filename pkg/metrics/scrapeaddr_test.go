package metrics

import (
	"strings"
	"testing"
)

// A daemon listening on every address is scraped on loopback: 0.0.0.0
// is no address to connect to.
func TestScrapeConfigTargetsLoopbackForWildcards(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:7055":   `["127.0.0.1:7055"]`,
		"[::]:7055":      `["[::1]:7055"]`,
		"127.0.0.1:7055": `["127.0.0.1:7055"]`,
		"10.1.2.3:7055":  `["10.1.2.3:7055"]`,
	} {
		if got := string(ScrapeConfig(addr, false, "")); !strings.Contains(got, "targets: "+want) {
			t.Errorf("ScrapeConfig(%q) lacks targets: %s:\n%s", addr, want, got)
		}
	}
}
