package capp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzReadFrom: whatever the bytes, ReadFrom returns an App or an *Error
// naming the file, never panics, and an App it returns is consistent.
func FuzzReadFrom(f *testing.F) {
	var built bytes.Buffer
	if err := Build(&built, sampleSpec()); err != nil {
		f.Fatal(err)
	}
	f.Add(built.Bytes())
	f.Add(zipOf(f, sample()...))
	f.Add(zipOf(f, replace(sample(), "OrdersAPI_1.2.0/OrdersAPI-1.2.0.xml", "<api")...))
	f.Add(zipOf(f, append(sample(), entry{"../x", ""})...))
	f.Add(zipOf(f, entry{"artifacts.xml", "\xef\xbb\xbf<artifacts/>"}))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		app, err := ReadFrom(bytes.NewReader(data), int64(len(data)), "fuzz.car")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), "fuzz.car: ") {
				t.Fatalf("error %v (%T) is not an *Error naming the file", err, err)
			}
			if (e.App != nil) != (e.Stage == StageArtifact) {
				t.Fatalf("stage %v with app %v", e.Stage, e.App)
			}
			return
		}
		if app.Name == "" || app.Size != int64(len(data)) || len(app.SHA256) != 64 {
			t.Fatalf("inconsistent app %+v", app)
		}
		for _, in := range app.Inbounds {
			if in.Port < 1 || in.Port > 65535 {
				t.Fatalf("port %d accepted", in.Port)
			}
		}
	})
}
