package export_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/export"
	"github.com/mictl/mictl/pkg/export/exporttest"
	"github.com/mictl/mictl/pkg/ports"
	"github.com/mictl/mictl/pkg/state"
)

// A new export takes the old one's place whole: files the new one does not
// write are gone, nothing temporary is left, and the marker lists it.
func TestWriteDirReplacesTheWholeExport(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	first := []export.File{{Path: "a.yaml", Data: []byte("a"), Mode: 0o644}, {Path: "sub/b.yaml", Data: []byte("b"), Mode: 0o600}}
	if err := export.WriteDir(dir, "kind", first, 0o700); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(dir, "sub", "b.yaml")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("sub/b.yaml: %v %v", err, info)
	}
	if err := export.CheckDir(dir, "kind", "--out", false); err != nil {
		t.Fatalf("an earlier export of the same kind is refused: %v", err)
	}
	if err := export.CheckDir(dir, "other", "--out", false); err == nil {
		t.Fatal("another kind's export was taken without --force")
	}
	second := []export.File{{Path: "c.yaml", Data: []byte("c"), Mode: 0o644}}
	if got := export.Dropped(dir, "kind", second); !slices.Equal(got, []string{"a.yaml", "sub/b.yaml"}) {
		t.Errorf("dropped by the second export: %q, want the first's two files", got)
	}
	if got := export.Dropped(dir, "other", second); got != nil {
		t.Errorf("dropped from another kind's export: %q, want none", got)
	}
	if err := export.WriteDir(dir, "kind", second, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != export.Marker+" c.yaml" {
		t.Errorf("after the second export: %v", names)
	}
	if all, _ := os.ReadDir(parent); len(all) != 1 {
		t.Errorf("left beside the export: %v", all)
	}
	if info, _ := os.Stat(dir); info.Mode().Perm() != 0o700 {
		t.Errorf("export directory mode %v", info.Mode())
	}
}

// An export that cannot be written says so of the directory the user
// named and its parent, not of the temporary directory beside it.
func TestWriteDirErrorsNameTheUsersPaths(t *testing.T) {
	dir := "/proc/mictl-export-test" // a directory no one may make one in
	err := export.WriteDir(dir, "kind", []export.File{{Path: "a.yaml", Data: []byte("a"), Mode: 0o644}}, 0o700)
	if err == nil || !strings.HasPrefix(err.Error(), "export to "+dir+": cannot write in /proc: ") || strings.Contains(err.Error(), ".tmp-") {
		t.Fatalf("WriteDir into /proc: %v; want it said of %s and /proc alone", err, dir)
	}
}

func TestCheckDirRefusesWhatItDidNotWrite(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mine.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := export.CheckDir(dir, "kind", "--out", false)
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "mine.txt") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v", err)
	}
	if err := export.CheckDir(dir, "kind", "--out", true); err != nil {
		t.Fatalf("--force: %v", err)
	}
	file := filepath.Join(dir, "mine.txt")
	if err := export.CheckDir(file, "kind", "--out", true); err == nil {
		t.Fatal("a file taken as an export directory")
	}
}

func TestDeclaredCAppsAreChecked(t *testing.T) {
	dir := t.TempDir()
	notCar := filepath.Join(dir, "app.zip")
	if err := os.WriteFile(notCar, []byte("zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := exporttest.Target(t, dir, exporttest.Case{Name: "capps", TOML: "instances = 1\n"})
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.car"), "no such file"},
		{notCar, "only .car files"},
		{dir + "/", "only .car"},
	} {
		_, err := export.FromTarget(target, export.Options{CApps: func(string) []string { return []string{tc.path} }})
		var ce *config.Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "instance mi-1") {
			t.Errorf("%s: err = %v, want a config error naming mi-1 and %q", tc.path, err, tc.want)
		}
	}
}

// mictl.toml has no JVM settings: the instances run with the environment
// the `mictl up` that started them captured, which their records keep
// (across restarts, reloads, a daemon taking over). An export carries
// that, not the exporting shell's, with the extra ports its JAVA_OPTS
// opens, and says where the two differ; an instance with no recorded
// environment gets the shell's, as `mictl up` would give it.
func TestRecordedEnvironmentWinsOverTheShells(t *testing.T) {
	dir := t.TempDir()
	target := exporttest.Target(t, dir, exporttest.Case{Name: "env", TOML: "instances = 3\n", Env: []string{"JAVA_HOME=/opt/other"}, Offsets: []int{10, 11, 12}})
	ran := []string{"JAVA_HOME=/opt/jdk21", "JAVA_OPTS=-Desb.debug=true -Xmx2g", "JVM_MEM_OPTS=-Xms256m -Xmx2048m -D" + ports.JMXPortProperty + "=9999", "nodeId=mi-1"}
	current := &state.File{Version: state.SchemaVersion, Instances: []state.Instance{
		{Name: "mi-1", Offset: 10, Env: ran, State: state.StateReady},
		{Name: "mi-2", Offset: 11, State: state.StateReady},             // rebuilt: no environment recorded
		{Name: "mi-3", Offset: 12, Env: ran, State: state.StateStopped}, // the next up starts it afresh
	}}
	in, err := export.FromTarget(target, export.Options{Current: current})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]export.Instance{}
	for _, inst := range in.Instances {
		byName[inst.Name] = inst
	}
	mi1 := byName["mi-1"]
	if !mi1.Recorded || !slices.Equal(mi1.Launch.Env, ran) || !slices.Equal(mi1.Here, []string{"JAVA_HOME=/opt/other"}) {
		t.Errorf("mi-1: recorded %v, env %q, here %q; want its record's %q, this shell's JAVA_HOME apart", mi1.Recorded, mi1.Launch.Env, mi1.Here, ran)
	}
	if want := []string{"JVM_MEM_OPTS=-Xms256m -Xmx2048m -D" + ports.JMXPortProperty + "=9999", "JAVA_OPTS=-Desb.debug=true -Xmx2g"}; !slices.Equal(sorted(mi1.JVMEnv()), sorted(want)) {
		t.Errorf("mi-1 JVM settings %q, want %q", mi1.JVMEnv(), want)
	}
	if !slices.ContainsFunc(mi1.Extras, func(e ports.Extra) bool { return e.Role == ports.RoleDebugger }) ||
		!slices.ContainsFunc(mi1.Launch.Extras, func(e state.Extra) bool { return e.Role == ports.RoleDebugger && e.Port == 9005 }) {
		t.Errorf("mi-1 extras %+v, launch extras %+v: the debugger its JAVA_OPTS turns on (9005, no offset) is missing", mi1.Extras, mi1.Launch.Extras)
	}
	// JVM_MEM_OPTS reaches java too (MI's script hands it over first).
	if !slices.ContainsFunc(mi1.Launch.Extras, func(e state.Extra) bool { return e.Role == ports.RoleJMX && e.Port == 9999 }) {
		t.Errorf("mi-1 launch extras %+v: the JMX port its JVM_MEM_OPTS pins (9999) is missing", mi1.Launch.Extras)
	}
	for _, name := range []string{"mi-2", "mi-3"} {
		inst := byName[name]
		if want := []string{"JAVA_HOME=/opt/other", "nodeId=" + name}; inst.Recorded || !slices.Equal(inst.Launch.Env, want) || len(inst.Extras) != 0 {
			t.Errorf("%s: recorded %v, env %q, extras %+v; want this shell's %q", name, inst.Recorded, inst.Launch.Env, inst.Extras, want)
		}
	}
	// mi-3's record keeps its last run's settings, which the export does
	// not carry: said apart (LastRunNotes). mi-2 has none to say.
	if want := sorted(ran[:3]); !slices.Equal(byName["mi-3"].LastRun, want) || byName["mi-2"].LastRun != nil || mi1.LastRun != nil {
		t.Errorf("last runs: mi-1 %q, mi-2 %q, mi-3 %q; want mi-3's %q alone", mi1.LastRun, byName["mi-2"].LastRun, byName["mi-3"].LastRun, want)
	}
	if n := in.LastRunNotes(export.EveryCaptured); len(n) != 1 || !slices.Equal(n[0].Instances, []string{"mi-3"}) || len(n[0].Variables) != 3 {
		t.Errorf("last run notes %+v, want one of mi-3's three settings", n)
	}
	notes := in.EnvNotes(export.EveryCaptured)
	want := `the export carries the environment mi-1 was started with (recorded by mictl up), not this shell's: ` +
		`JAVA_HOME=/opt/jdk21 (this shell: /opt/other), JAVA_OPTS="-Desb.debug=true -Xmx2g" (this shell: unset), JVM_MEM_OPTS="-Xms256m -Xmx2048m -D` + ports.JMXPortProperty + `=9999" (this shell: unset); ` +
		`to export other settings, start the instances with them (mictl down, then mictl up in a shell that sets them) and export again ` +
		`(mi-2 and mi-3, not running or with no environment recorded of a run, get this shell's)`
	if len(notes) != 1 || notes[0].Message != want {
		t.Fatalf("notes:\n%+v\nwant\n%q", notes, want)
	}
	// The same, for -o json: the instances, and each variable with both
	// values (nil where unset).
	str := func(v *string) string {
		if v == nil {
			return "<unset>"
		}
		return *v
	}
	var vars []string
	for _, v := range notes[0].Variables {
		vars = append(vars, v.Variable+": "+str(v.Exported)+" | "+str(v.ThisShell))
	}
	wantVars := []string{"JAVA_HOME: /opt/jdk21 | /opt/other", "JAVA_OPTS: -Desb.debug=true -Xmx2g | <unset>",
		"JVM_MEM_OPTS: -Xms256m -Xmx2048m -D" + ports.JMXPortProperty + "=9999 | <unset>"}
	if !slices.Equal(notes[0].Instances, []string{"mi-1"}) || !slices.Equal(vars, wantVars) {
		t.Errorf("note of %q: variables %q; want mi-1's %q", notes[0].Instances, vars, wantVars)
	}
	// The same environment in the shell: nothing to say.
	target = exporttest.Target(t, dir, exporttest.Case{Name: "env", TOML: "instances = 1\n", Env: ran[:3], Offsets: []int{10}})
	if in, err = export.FromTarget(target, export.Options{Current: current}); err != nil || in.Instances[0].Here != nil || len(in.EnvNotes(export.EveryCaptured)) != 0 {
		t.Errorf("the shell as recorded: err %v, notes %+v", err, in.EnvNotes(export.EveryCaptured))
	}
}

// The note of an environment that differs shows JVM settings, and a
// terminal or a CI log keeps it where anyone reads it: the value of a -D
// property named for a secret is hidden there and in -o json, though the
// export carries it, and a difference in it alone is still noted.
func TestEnvNotesHideSecrets(t *testing.T) {
	dir := t.TempDir()
	shell := []string{"JAVA_OPTS=-Xmx1g  -Ddb.pwd=shell-pw -Dapi.key=k3y\t-Dkey.store.type=JKS"}
	target := exporttest.Target(t, dir, exporttest.Case{Name: "env", TOML: "instances = 2\n", Env: shell, Offsets: []int{10, 11}})
	current := &state.File{Version: state.SchemaVersion, Instances: []state.Instance{
		{Name: "mi-1", Offset: 10, State: state.StateReady, Env: []string{"JAVA_OPTS=-Xmx2g -Ddb.pwd=s3cret -Djavax.net.ssl.keyStorePassword=st0re"}},
		{Name: "mi-2", Offset: 11, State: state.StateReady, Env: []string{"JAVA_OPTS=-Xmx1g  -Ddb.pwd=0ther-pw -Dapi.key=k3y\t-Dkey.store.type=JKS"}},
	}}
	in, err := export.FromTarget(target, export.Options{Current: current})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(in.Instances[0].Launch.Env, current.Instances[0].Env[0]) {
		t.Errorf("mi-1 carries %q, want its record's %q whole", in.Instances[0].Launch.Env, current.Instances[0].Env[0])
	}
	notes := in.EnvNotes(export.EveryCaptured)
	if len(notes) != 2 {
		t.Fatalf("notes %+v, want one for mi-1 and one for mi-2 (its secret alone differs)", notes)
	}
	for i, want := range []struct{ exported, shell string }{
		{"-Xmx2g -Ddb.pwd=<hidden> -Djavax.net.ssl.keyStorePassword=<hidden>", "-Xmx1g  -Ddb.pwd=<hidden> -Dapi.key=<hidden>\t-Dkey.store.type=JKS"},
		{"-Xmx1g  -Ddb.pwd=<hidden> -Dapi.key=<hidden>\t-Dkey.store.type=JKS", "-Xmx1g  -Ddb.pwd=<hidden> -Dapi.key=<hidden>\t-Dkey.store.type=JKS"},
	} {
		n := notes[i]
		for _, secret := range []string{"s3cret", "st0re", "shell-pw", "k3y", "0ther-pw"} {
			if strings.Contains(n.Message, secret) {
				t.Errorf("the note of %v shows %q:\n%s", n.Instances, secret, n.Message)
			}
		}
		if len(n.Variables) != 1 || *n.Variables[0].Exported != want.exported || *n.Variables[0].ThisShell != want.shell {
			t.Errorf("the note of %v: variables %+v, want JAVA_OPTS %q (this shell: %q)", n.Instances, n.Variables, want.exported, want.shell)
		}
	}
	if want := `JAVA_OPTS="-Xmx1g  -Ddb.pwd=<hidden> -Dapi.key=<hidden>\t-Dkey.store.type=JKS" (this shell: the same but for a hidden value); `; !strings.Contains(notes[1].Message, want) {
		t.Errorf("the note of a secret alone that differs:\n%s\nwant %q", notes[1].Message, want)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestHoldsSecret(t *testing.T) {
	for kv, want := range map[string]bool{
		"JAVA_OPTS=-Djavax.net.ssl.keyStorePassword=x":                       true,
		"JAVA_OPTS=-Xmx1g -Dcom.sun.management.jmxremote.password.file=/p":   true,
		"JAVA_TOOL_OPTIONS=-Dapi.TOKEN=t":                                    true,
		"JDK_JAVA_OPTIONS=-Dsecret.alias=a":                                  true,
		"JAVA_OPTS=-Dssl.key.passphrase=p":                                   true,
		"JAVA_OPTS=-Dfoo=password":                                           false, // a value, not a name
		"JAVA_OPTS=-Xmx1g -Desb.debug=true":                                  false,
		"JAVA_HOME=/opt/secret-jdk":                                          false, // no -D
		"JAVA_OPTS=-Dcom.sun.management.jmxremote.local.port=9999":           false,
		"JAVA_OPTS=-Dcom.sun.management.jmxremote.local.port=9999 -Ddb.pwd=": true, // any -D of the variable
	} {
		if got := export.HoldsSecret(kv); got != want {
			t.Errorf("HoldsSecret(%q) = %v, want %v", kv, got, want)
		}
	}
}

// The names a property holding a secret goes by, and look-alikes that hold
// none. A miss leaks the value into a world-readable export.
func TestSecretProperty(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		// Each word, alone, in a segment of its own, run into others.
		{"javax.net.ssl.keyStorePassword", true},
		{"javax.net.ssl.trustStorePassword", true},
		{"com.sun.management.jmxremote.password.file", true},
		{"keystore.passwd", true},
		{"ssl.key.passphrase", true},
		{"db.pwd", true},
		{"DB_PWD", true},
		{"dbpwd", true},
		{"adminPwd", true},
		{"client_secret", true},
		{"secret.alias", true},
		{"secretkey", true},
		{"securevault.enabled", true},
		{"api.TOKEN", true},
		{"oauth-access-token", true},
		{"refreshToken", true},
		{"wso2.credential", true},
		{"aws.credentials.file", true},
		{"apikey", true},
		{"gateway.apiKey", true},
		// A word split by a separator.
		{"api.key", true},
		{"api-key", true},
		{"API_KEY", true},
		{"rest.api.key.value", true},
		{"secure.vault", true},
		{"pass_phrase", true},
		{"pass.word", true},
		// "key" alone names key stores and aliases; a secret key says so.
		{"secret.key", true},
		{"key.store.type", false},
		{"javax.net.ssl.keyStore", false},
		{"javax.net.ssl.keyStoreType", false},
		{"keyAlias", false},
		{"private.key.alias", false},
		// A short word as a whole segment: "pass", and "key" last.
		{"encryption.key", true},
		{"private.key", true},
		{"SIGNING_KEY", true},
		{"key", true},
		{"db.pass", true},
		{"passcode", true},
		{"passive.mode", false},
		{"compass.dir", false},
		{"key.alias", false},
		{"api.keystore", false}, // "api" and "keystore" are not "apikey"
		{"monkey", false},
		// No word at all; none straddling a separator.
		{"carbon.home", false},
		{"esb.debug", false},
		{"http.wd", false}, // "p" and "wd" are not "pwd"
		{"setup.wdir", false},
		{"com.sun.management.jmxremote.local.port", false},
		{"user.dir", false},
		{"", false},
	} {
		if got := export.SecretProperty(tt.name); got != tt.want {
			t.Errorf("SecretProperty(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
