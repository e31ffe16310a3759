package config

import "testing"

// A planned key is never taken for a typo of another one a letter away
// (internal_http_api_port and internal_https_api_port); a key a typo away
// from one is; others are MI's business.
func TestMistypedKey(t *testing.T) {
	for key, want := range map[string]string{
		"mediation.internal_http_api_port":     "",
		"mediation.internal_https_api_port":    "",
		"transport.http.listener.secured_port": "",
		"transport.http.listner.port":          `"transport.http.listener.port"`,
		"mediation.internal_htp_api_port":      `"mediation.internal_http_api_port"`,
		// Equally close to two: both named, not let through.
		"mediation.internal_htts_api_port": `"mediation.internal_http_api_port" or "mediation.internal_https_api_port"`,
		"server.ofset":                     `"server.offset"`,
		"server.hostname":                  "",
		"transport.jms.listener_enable":    "",
	} {
		if got := quotedOr(mistypedKeys(key)); got != want {
			t.Errorf("mistypedKeys(%q) = %s, want %s", key, got, want)
		}
	}
	if d := EditDistance("kitten", "sitting"); d != 3 {
		t.Errorf("EditDistance(kitten, sitting) = %d, want 3", d)
	}
}
