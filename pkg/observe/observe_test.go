package observe

import "testing"

func TestProbeAddr(t *testing.T) {
	for bind, want := range map[string]string{
		"127.0.0.1": "127.0.0.1:9201", "0.0.0.0": "127.0.0.1:9201", "::": "[::1]:9201", "::1": "[::1]:9201", "10.1.2.3": "10.1.2.3:9201",
	} {
		if got := probeAddr(bind, 9201); got != want {
			t.Errorf("probeAddr(%s) = %s, want %s", bind, got, want)
		}
	}
}
