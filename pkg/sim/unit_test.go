package sim

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mictl/mictl/pkg/deploytoml"
	"github.com/mictl/mictl/pkg/ports"
)

func TestWriteDist(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dist")
	exe := "/opt/it's here/mictl"
	if err := WriteDist(dir, DistOptions{Exe: exe, ExeArgs: []string{"sim"}}); err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{
		ScriptPath:                          0o755,
		DeployTOMLPath:                      0o600, // holds passwords (docs/mi-facts.md, "Start, stop, files")
		Log4j2Path:                          0o644,
		VersionPath:                         0o644,
		filepath.Join(LibDir, "README.txt"): 0o444,
	} {
		fi, err := os.Stat(filepath.Join(dir, path))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", path, fi.Mode().Perm(), mode)
		}
	}
	for _, d := range []string{LogDir, TmpDir, LibDir} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s is not a directory: %v", d, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, DeployTOMLPath)); string(b) != string(deploytoml.Template()) {
		t.Errorf("conf/deployment.toml is not the built-in template")
	}
	// MI ships the syslog appender commented out (docs/mi-facts.md, "Ports").
	if c := syslogFrom(parseProperties([]byte(log4j2Template))); c.enabled {
		t.Errorf("shipped log4j2.properties enables syslog")
	}
	script, _ := os.ReadFile(filepath.Join(dir, ScriptPath))
	if !strings.HasPrefix(string(script), "#!/bin/sh\n") {
		t.Errorf("script is not a sh script")
	}
	if !strings.Contains(string(script), `'/opt/it'\''s here/mictl' 'sim' run "$@"`) {
		t.Errorf("script does not run the quoted simulator:\n%s", script)
	}
	if strings.Contains(string(script), "exec ") {
		t.Errorf("script execs: the server must be a child")
	}
	if err := exec.Command("sh", "-n", filepath.Join(dir, ScriptPath)).Run(); err != nil {
		t.Errorf("sh -n: %v", err)
	}
	if !IsDist(dir) {
		t.Errorf("isDist false on a fresh distribution")
	}

	// A rewrite keeps the user's conf and records a new executable.
	writeFile(t, filepath.Join(dir, DeployTOMLPath), "[server]\noffset = 3\n")
	if err := WriteDist(dir, DistOptions{Exe: "/usr/bin/mictl", ExeArgs: []string{"sim"}}); err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, DeployTOMLPath)); string(b) != "[server]\noffset = 3\n" {
		t.Errorf("rewrite replaced an edited deployment.toml")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ScriptPath)); !strings.Contains(string(b), "'/usr/bin/mictl' 'sim' run") {
		t.Errorf("rewrite kept the old executable")
	}

	// Files already up to date are left alone: a new modification time on
	// the script would make every instance home copy it again.
	before := map[string]os.FileInfo{}
	for _, p := range []string{ScriptPath, VersionPath, filepath.Join(LibDir, "README.txt")} {
		before[p], _ = os.Stat(filepath.Join(dir, p))
	}
	if err := WriteDist(dir, DistOptions{Exe: "/usr/bin/mictl", ExeArgs: []string{"sim"}}); err != nil {
		t.Fatalf("second rewrite: %v", err)
	}
	for p, old := range before {
		now, err := os.Stat(filepath.Join(dir, p))
		if err != nil || !os.SameFile(old, now) || !now.ModTime().Equal(old.ModTime()) {
			t.Errorf("%s was rewritten although it was up to date", p)
		}
	}
	// An empty conf file (what a power failure may leave) is not an edit:
	// it gets the template again.
	writeFile(t, filepath.Join(dir, DeployTOMLPath), "")
	if err := WriteDist(dir, DistOptions{Exe: "/usr/bin/mictl", ExeArgs: []string{"sim"}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, DeployTOMLPath)); string(b) != string(deploytoml.Template()) {
		t.Errorf("an empty deployment.toml was kept, want the template")
	}

	// A first write interrupted after VERSION (written first) is completed.
	partial := t.TempDir()
	writeFile(t, filepath.Join(partial, VersionPath), distMarker+"\n")
	if err := WriteDist(partial, DistOptions{Exe: "/usr/bin/mictl", ExeArgs: []string{"sim"}}); err != nil {
		t.Fatalf("completing an interrupted write: %v", err)
	}
	if _, err := os.Stat(filepath.Join(partial, ScriptPath)); err != nil {
		t.Errorf("the interrupted write was not completed: %v", err)
	}

	other := t.TempDir()
	writeFile(t, filepath.Join(other, "notes.txt"), "mine")
	var taken *DirTakenError
	if err := WriteDist(other, DistOptions{Exe: "/usr/bin/mictl"}); !errors.As(err, &taken) || !strings.Contains(err.Error(), "holds files and is no simulator distribution") {
		t.Errorf("WriteDist into a foreign non-empty dir: %v", err)
	}
	if err := WriteDist(filepath.Join(other, "notes.txt", "dist"), DistOptions{Exe: "/usr/bin/mictl"}); !errors.As(err, &taken) || taken.Why != filepath.Join(other, "notes.txt")+" is a file" {
		t.Errorf("WriteDist under a file: %v", err)
	}
	if err := WriteDist(t.TempDir(), DistOptions{Exe: "mictl"}); err == nil {
		t.Errorf("relative Exe accepted")
	}
}

func TestShQuote(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "with space", "it's", `'"$HOME` + "`x`\\", "a\nb"} {
		out, err := exec.Command("sh", "-c", "printf %s "+shQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("shQuote(%q) → sh printed %q, %v", s, out, err)
		}
	}
}

func TestFormatLine(t *testing.T) {
	t.Parallel()
	// docs/mi-facts.md "Start, stop, files": MI's log layout.
	tm := time.Date(2026, 11, 25, 15, 4, 5, 123e6, time.Local)
	if got, want := formatLine(tm, "INFO", "Class", "message"), "[2026-11-25 15:04:05,123]  INFO {Class} - message\n"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	if got, want := formatLine(tm, "ERROR", "C", "m"), "[2026-11-25 15:04:05,123] ERROR {C} - m\n"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

// docs/mi-facts.md "Ports": -DportOffset REPLACES the toml offset (default 10);
// explicit ports are still shifted; JMX pinned from JAVA_OPTS or args.
func TestLoadConfig(t *testing.T) {
	t.Parallel()
	def := ports.DefaultBases()
	cases := []struct {
		name     string
		toml     string
		javaOpts string
		args     []string
		want     ports.Set
		from     string
		internal bool
		jmx      int
	}{
		{"template", string(deploytoml.Template()), "", nil, def.Shift(10), "default", true, 0},
		{"toml offset", "[server]\noffset = 3\n", "", nil, def.Shift(3), "deployment.toml", true, 0},
		{"flag replaces toml", "[server]\noffset = 3\n", "", []string{"-DportOffset=5"}, def.Shift(5), ports.OffsetFlag, true, 0},
		{"flag in JAVA_OPTS, args win", "", "-DportOffset=7", []string{"-DportOffset=2"}, def.Shift(2), ports.OffsetFlag, true, 0},
		{"explicit ports shifted", "[server]\noffset = 1\n[transport.http]\nlistener.port = 9000\n[mediation]\ninternal_http_api_enable = false\n", "",
			nil, ports.Set{9001, 8244, 9192, 9155}, "deployment.toml", false, 0},
		{"jmx pinned", "", "-Dcom.sun.management.jmxremote.local.port=40001", nil, def.Shift(10), "default", true, 40001},
		{"jmx pinned in args", "", "-Dcom.sun.management.jmxremote.local.port=40001", []string{"-Dcom.sun.management.jmxremote.local.port=40002"}, def.Shift(10), "default", true, 40002},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			os.MkdirAll(filepath.Join(home, "conf"), 0o755)
			writeFile(t, filepath.Join(home, DeployTOMLPath), c.toml)
			env := func(k string) string {
				if k == "JAVA_OPTS" {
					return c.javaOpts
				}
				return ""
			}
			cfg, err := loadConfig(home, env, c.args)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ports != c.want || cfg.offsetFrom != c.from || cfg.internalAPI != c.internal || cfg.jmxPort != c.jmx {
				t.Errorf("got ports %v from %s internal %v jmx %d; want %v from %s internal %v jmx %d",
					cfg.ports, cfg.offsetFrom, cfg.internalAPI, cfg.jmxPort, c.want, c.from, c.internal, c.jmx)
			}
		})
	}
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, "conf"), 0o755)
	writeFile(t, filepath.Join(home, DeployTOMLPath), "")
	if _, err := loadConfig(home, func(string) string { return "" }, []string{"-DportOffset=x"}); err == nil || !strings.Contains(err.Error(), "NumberFormatException") {
		t.Errorf("bad -DportOffset: %v", err)
	}
}

// The debugger's ports come from synapse.properties, MI's 9005 and 9006
// where it sets none, and only with the debugger on; a value that is no
// port names the file, the key and the value.
func TestDebuggerPortsFromSynapseProperties(t *testing.T) {
	t.Parallel()
	load := func(t *testing.T, javaOpts, properties string) (serverConfig, error) {
		home := t.TempDir()
		os.MkdirAll(filepath.Join(home, "conf"), 0o755)
		writeFile(t, filepath.Join(home, DeployTOMLPath), "")
		if properties != "" {
			writeFile(t, filepath.Join(home, SynapsePropertiesPath), properties)
		}
		return loadConfig(home, func(k string) string {
			if k == "JAVA_OPTS" {
				return javaOpts
			}
			return ""
		}, nil)
	}
	for _, c := range []struct {
		name, javaOpts, properties string
		on                         bool
		command, event             int
	}{
		{"off", "", DebuggerCommandPortKey + "=7005\n", false, 0, 0},
		{"defaults", "-Desb.debug=true", "", true, 9005, 9006},
		{"from the file", "-Desb.debug=super", DebuggerCommandPortKey + " = 7005\n" + DebuggerEventPortKey + ": 7006\n", true, 7005, 7006},
	} {
		cfg, err := load(t, c.javaOpts, c.properties)
		if err != nil || cfg.debugger != c.on || cfg.debuggerCommand != c.command || cfg.debuggerEvent != c.event {
			t.Errorf("%s: debugger %v on %d/%d (%v), want %v on %d/%d", c.name, cfg.debugger, cfg.debuggerCommand, cfg.debuggerEvent, err, c.on, c.command, c.event)
		}
	}
	_, err := load(t, "-Desb.debug=true", DebuggerEventPortKey+"=x\n")
	if err == nil || !strings.Contains(err.Error(), SynapsePropertiesPath+": "+DebuggerEventPortKey+` = "x" is not a port`) {
		t.Errorf("bad event port: %v", err)
	}
}

// docs/mi-facts.md "Ports", syslog row: which log4j2.properties lines enable it.
func TestSyslogFrom(t *testing.T) {
	t.Parallel()
	full := "appenders = CARBON_CONSOLE, \\\n   syslog\nappender.syslog.type = Syslog\nappender.syslog.host = logs.example\nappender.syslog.port: 1514\nrootLogger.appenderRef.syslog.ref = syslog\n"
	c := syslogFrom(parseProperties([]byte(full)))
	if !c.enabled || c.protocol != "TCP" || c.host != "logs.example" || c.port != 1514 {
		t.Errorf("full TCP config: %+v", c)
	}
	if c := syslogFrom(parseProperties([]byte(full + "appender.syslog.protocol = udp\n"))); c.protocol != "UDP" {
		t.Errorf("protocol: %+v", c)
	}
	for _, drop := range []string{"   syslog\n", "appender.syslog.type = Syslog\n", "rootLogger.appenderRef.syslog.ref = syslog\n"} {
		src := strings.Replace(full, drop, "", 1)
		if drop == "   syslog\n" {
			src = strings.Replace(full, ", \\\n   syslog\n", "\n", 1)
		}
		if c := syslogFrom(parseProperties([]byte(src))); c.enabled {
			t.Errorf("enabled without %q", drop)
		}
	}
}

func TestParseFaults(t *testing.T) {
	t.Parallel()
	f, err := parseFaults(func(string) string { return "" })
	if err != nil || f.startupDelay != 300*time.Millisecond || f.bind != "0.0.0.0" || f.crashAfter >= 0 || f.restartOnce >= 0 {
		t.Errorf("defaults: %+v %v", f, err)
	}
	env := map[string]string{EnvStartupDelay: "7s", EnvCrashAfter: "2s", EnvCrashCode: "9", EnvHoldMemory: "64MiB", EnvNeverReady: "yes", EnvBind: "127.0.0.1"}
	f, err = parseFaults(func(k string) string { return env[k] })
	if err != nil || f.startupDelay != 7*time.Second || f.crashAfter != 2*time.Second || f.crashCode != 9 || f.holdMemory != 64<<20 || !f.neverReady || f.bind != "127.0.0.1" {
		t.Errorf("set: %+v %v", f, err)
	}
	bad := map[string]string{EnvStartupDelay: "soon", EnvCrashCode: "x", EnvHoldMemory: "lots", EnvNeverReady: "maybe"}
	err = CheckFaults(func(k string) string { return bad[k] })
	if err == nil || strings.Count(err.Error(), "MICTL_SIM_") != 4 || strings.Count(err.Error(), ": expected ") != 4 {
		t.Errorf("bad values: %v, want each variable named with what it expects", err)
	}
	// Said in the user's terms: no parser's own words (time: invalid
	// duration, strconv.Atoi: parsing ...).
	if err != nil && (strings.Contains(err.Error(), "time:") || strings.Contains(err.Error(), "strconv")) {
		t.Errorf("bad values: %v", err)
	}
	for _, fv := range FaultVars {
		if !strings.HasPrefix(fv.Name, "MICTL_SIM_") || fv.What == "" {
			t.Errorf("undocumented fault var %+v", fv)
		}
	}
}

// docs/mi-facts.md "Health and management": healthz, liveness, login, bearer tokens.
func TestHandlers(t *testing.T) {
	t.Parallel()
	s := &server{home: t.TempDir(), cfg: serverConfig{offset: 4, ports: ports.DefaultBases().Shift(4)}, log: newLogger(io.Discard, t.TempDir()), tokens: newTokenStore()}
	s.deployer = newDeployer(s)
	internal := httptest.NewServer(s.internalMux())
	defer internal.Close()
	mgmt := httptest.NewServer(s.managementMux())
	defer mgmt.Close()
	if code, body := get(internal.URL+"/healthz", nil); code != 503 || strings.TrimSpace(body) != `{"status":"not ready"}` {
		t.Errorf("healthz before ready: %d %s", code, body)
	}
	s.ready.Store(true)
	if code, body := get(internal.URL+"/healthz", nil); code != 200 || strings.TrimSpace(body) != `{"version":"4.4.0","status":"ready"}` {
		t.Errorf("healthz ready: %d %s", code, body)
	}
	if code, body := get(internal.URL+"/liveness", nil); code != 200 || strings.TrimSpace(body) != `{"server":"started"}` {
		t.Errorf("liveness: %d %s", code, body)
	}
	if code, _ := get(mgmt.URL+"/management/login", nil); code != http.StatusUnauthorized {
		t.Errorf("login without credentials: %d", code)
	}
	code, body := get(mgmt.URL+"/management/login", http.Header{"Authorization": {"Basic YWRtaW46YWRtaW4="}})
	var login struct{ AccessToken string }
	decodeJSON(t, body, &login)
	if code != 200 || login.AccessToken == "" {
		t.Fatalf("login: %d %s", code, body)
	}
	if code, body := get(mgmt.URL+"/management/server", http.Header{"Authorization": {"Bearer " + login.AccessToken}}); code != 200 || !strings.Contains(body, `"offset":4`) {
		t.Errorf("server: %d %s", code, body)
	}
	if code, _ := get(mgmt.URL+"/management/apis", nil); code != http.StatusUnauthorized {
		t.Errorf("other resource without token: %d", code)
	}
}

// docs/mi-integrations.md: the deployment.toml keys and system property
// the simulator reads for CApps and metrics, in the forms MI accepts.
func TestLoadConfigIntegrations(t *testing.T) {
	t.Parallel()
	handler := "[[synapse_handlers]]\nname = \"CustomObservabilityHandler\"\nclass = \"" + ports.MetricHandlerClass + "\"\n"
	cases := []struct {
		name, toml, javaOpts string
		args                 []string
		host                 string
		hot, inbound, metric bool
		err                  string
	}{
		{name: "defaults", toml: "", host: "localhost", hot: true},
		{name: "template", toml: string(deploytoml.Template()), host: "localhost", hot: true},
		{name: "hostname and hot deployment off", toml: "[server]\nhostname = \"mi.example\"\nhot_deployment = false\n", host: "mi.example"},
		{name: "hot deployment as a string", toml: "[server]\nhot_deployment = \"false\"\n", host: "localhost"},
		{name: "bad hot deployment", toml: "[server]\nhot_deployment = 3\n", err: "server.hot_deployment must be true or false"},
		{name: "inbound offset, mediation", toml: "[mediation]\ninbound.port_offset_enable = true\n", host: "localhost", hot: true, inbound: true},
		{name: "inbound offset, synapse property", toml: "[synapse_properties]\n'inbound.port.offset.enable' = \"true\"\n", host: "localhost", hot: true, inbound: true},
		{name: "metrics need the flag", toml: handler, host: "localhost", hot: true},
		{name: "metrics need the handler", javaOpts: "-DenablePrometheusApi=true", host: "localhost", hot: true},
		{name: "metrics on", toml: handler, javaOpts: "-DenablePrometheusApi=true", host: "localhost", hot: true, metric: true},
		{name: "metrics flag in args", toml: handler, args: []string{"-DenablePrometheusApi=TRUE"}, host: "localhost", hot: true, metric: true},
		{name: "other handler", toml: "[[synapse_handlers]]\nclass = \"x.Y\"\n", javaOpts: "-DenablePrometheusApi=true", host: "localhost", hot: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			os.MkdirAll(filepath.Join(home, "conf"), 0o755)
			writeFile(t, filepath.Join(home, DeployTOMLPath), c.toml)
			cfg, err := loadConfig(home, func(k string) string {
				if k == "JAVA_OPTS" {
					return c.javaOpts
				}
				return ""
			}, c.args)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.hostname != c.host || cfg.hotDeployment != c.hot || cfg.inboundPortOffset != c.inbound || cfg.metrics != c.metric {
				t.Errorf("host %q hot %v inbound %v metrics %v; want %q %v %v %v", cfg.hostname, cfg.hotDeployment, cfg.inboundPortOffset, cfg.metrics, c.host, c.hot, c.inbound, c.metric)
			}
		})
	}
}

func TestParseFaultsDeployInterval(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]time.Duration{"": 0, "250ms": 250 * time.Millisecond, "15s": 15 * time.Second} {
		f, err := parseFaults(func(k string) string {
			if k == EnvDeployInterval {
				return v
			}
			return ""
		})
		if err != nil || f.deployEvery != want {
			t.Errorf("%q: %v %v", v, f.deployEvery, err)
		}
	}
	if _, err := parseFaults(func(k string) string {
		if k == EnvDeployInterval {
			return "0s"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "unset it to scan on every change") {
		t.Errorf("a zero interval: %v, want refused with what to do instead", err)
	}
	if _, err := parseFaults(func(k string) string {
		if k == EnvDeployInterval {
			return "soon"
		}
		return ""
	}); err == nil || strings.Contains(err.Error(), "must be above 0") {
		t.Errorf("an interval that is not a duration: %v, want one error, its own", err)
	}
}

// The lean simulator program runs the distribution when it is a program
// of the same build beside mictl (pkg/companion decides which); otherwise
// mictl itself does, as `mictl sim run`.
func TestDistOptionsBeside(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "mictl")
	if got := distOptionsBeside(exe); got.Exe != exe || !slices.Equal(got.ExeArgs, []string{"sim"}) {
		t.Errorf("nothing beside mictl: %+v, want mictl sim", got)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self) // a program of this very build
	if err != nil {
		t.Fatal(err)
	}
	lean := filepath.Join(dir, leanExe)
	if err := os.WriteFile(lean, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := distOptionsBeside(exe); got.Exe != lean || len(got.ExeArgs) != 0 {
		t.Errorf("%s beside mictl: %+v, want it run alone", leanExe, got)
	}
}

// A directory that cannot be made is named in words, with what to do,
// not as Go's call ("mkdir /proc/x: no such file or directory").
func TestWriteDistSaysWhatItCannotCreate(t *testing.T) {
	t.Parallel()
	err := WriteDist("/proc/mictl-no-such/dist", DistOptions{Exe: "/usr/bin/mictl", ExeArgs: []string{"sim"}})
	want := "write simulator distribution /proc/mictl-no-such/dist: cannot create /proc/mictl-no-such: no such file or directory; choose a directory you can write"
	if err == nil || err.Error() != want {
		t.Errorf("WriteDist under /proc: %v\nwant %s", err, want)
	}
}

// ScriptProgram reads back the program Script names, however its path is
// spelled, and nothing from a script that is not the simulator's.
func TestScriptProgram(t *testing.T) {
	for _, exe := range []string{"/opt/mictl/bin/mictl-sim", "/home/o'neil/my bin/mictl"} {
		got, ok := ScriptProgram(Script(DistOptions{Exe: exe, ExeArgs: []string{"sim"}}))
		if !ok || got != exe {
			t.Errorf("ScriptProgram of the script running %q = %q, %v", exe, got, ok)
		}
	}
	if got, ok := ScriptProgram("#!/bin/sh\nexec java \"$@\"\n"); ok {
		t.Errorf("ScriptProgram of MI's script = %q, want none", got)
	}
}
