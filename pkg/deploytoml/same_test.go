package deploytoml

import "testing"

func TestSameSettings(t *testing.T) {
	t.Parallel()
	const base = "[server]\nhostname = \"localhost\"\noffset = 3\n\n[transport.http]\nlistener.port = 8281\n"
	for _, tc := range []struct {
		name, other string
		same        bool
	}{
		{"identical", base, true},
		{"comments, blank lines, spacing", "# ops\n[server]   # the server\nhostname   = 'localhost'\n\n\noffset=3\n[transport.http]\nlistener.port = 8281 # moved\n", true},
		{"dotted keys, inline tables, CRLF, a BOM", "\xef\xbb\xbfserver = { hostname = \"localhost\", offset = 3 }\r\ntransport.http.listener.port = 8281\r\n", true},
		{"a value changed", "[server]\nhostname = \"localhost\"\noffset = 4\n\n[transport.http]\nlistener.port = 8281\n", false},
		{"a key added", base + "socket_timeout = 180000\n", false},
		{"not TOML", base + "[server\n", false},
	} {
		if got := SameSettings([]byte(base), []byte(tc.other)); got != tc.same {
			t.Errorf("%s: SameSettings = %v, want %v", tc.name, got, tc.same)
		}
	}
}

// BenchmarkSameSettingsUnchanged is comparing a running instance's
// deployment.toml with the one rendered for it again when nothing
// changed: once per running instance in an up beside them (its note of
// settings changed since), mictl diff and a reload.
func BenchmarkSameSettingsUnchanged(b *testing.B) {
	rendered := Template()
	current := append([]byte(nil), rendered...)
	for b.Loop() {
		if !SameSettings(current, rendered) {
			b.Fatal("a file and its copy differ")
		}
	}
}
