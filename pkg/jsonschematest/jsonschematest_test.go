package jsonschematest

import "testing"

// The schemas hold outputs to every key: one missing, one added, one of
// the wrong type, each fails.
func TestSchemasRefuseWhatTheyDoNotDescribe(t *testing.T) {
	good := `{"version":"v1","commit":null,"go_version":"go1.26","platform":"linux/amd64"}`
	if err := validate("version", []byte(good)); err != nil {
		t.Fatalf("a good output was refused: %v", err)
	}
	for _, bad := range []string{
		`{"version":"v1","go_version":"go1.26","platform":"linux/amd64"}`,
		`{"version":"v1","commit":null,"go_version":"go1.26","platform":"linux/amd64","extra":1}`,
		`{"version":1,"commit":null,"go_version":"go1.26","platform":"linux/amd64"}`,
	} {
		if err := validate("version", []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if err := validate("status", []byte(`{"instances":[],"daemon":null,"reload_error":null,"reload_begun":null,"reload_refused":null,"reload_left_failed":null,"save_failure":null,"daemon_problem":null}`)); err != nil {
		t.Errorf("status with nothing running: %v", err)
	}
}
