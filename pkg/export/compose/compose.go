// Package compose exports a planned configuration as a Compose file: one
// service per instance, running MI's image with the instance's offset and
// its rendered deployment.toml and its CApps (those the distribution
// ships in its own carbonapps/ too: MI's image lacks them), its ports (its
// CApps' inbound endpoints too) published on this host as planned, so the
// same clients reach the same ports as under `mictl up`.
package compose

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/export"
	"github.com/mictl/mictl/pkg/home"
	"github.com/mictl/mictl/pkg/ports"
)

// Kind names this export in markers and messages; Command is the mictl
// command that writes it, named in the Compose file's first line.
const (
	Kind    = "compose"
	Command = "export compose"
)

// Restarts says how the services restart MI, for a note where the
// instances run with a restart policy of their own.
const Restarts = "Docker restarts a container whenever it ends, until it is stopped (restart: " + restartPolicy + ")"

// RunTimePorts says what the export does with an inbound endpoint port
// MI resolves only at run time whose value it does not carry, for a note
// naming it: only the ports the export knows are published (one whose
// value it carries is, export.Instance.Extras).
const RunTimePorts = "not published by its service: add it to the service's ports to reach it from the host"

// Carriage is what the services carry of the environment `mictl up`
// captures: the JVM settings; the image has its own Java.
var Carriage = export.JVMSettings

// Unhealthy says what becomes of a service whose MI answers /healthz
// with 500 (a faulty CApp), for a warning naming the CApp: its
// healthcheck asks /healthz.
const Unhealthy = "its container's healthcheck fails and Docker marks it unhealthy"

// restartPolicy is every service's: unless-stopped, not on-failure,
// since the container's main process ends as MI's start script does, with
// 0 even when the JVM crashed (docs/mi-facts.md).
const restartPolicy = "unless-stopped"

// Options are the export's settings beyond the configuration.
type Options struct {
	// Image runs MI (export.DefaultImage when empty).
	Image string
	// CarbonHome is MI's home inside Image (export.CarbonHomeIn when
	// empty).
	CarbonHome string
	// FilesDir is the directory beside the Compose file that holds the
	// files it mounts, relative to the Compose file.
	FilesDir string
}

type project struct {
	Name     string             `yaml:"name"`
	Services map[string]service `yaml:"services"` // yaml sorts the keys
}

type service struct {
	Image       string            `yaml:"image"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command,omitempty"`
	Environment map[string]string `yaml:"environment"`
	Ports       []port            `yaml:"ports"`
	Volumes     []volume          `yaml:"volumes"`
	Healthcheck healthcheck       `yaml:"healthcheck"`
	Restart     string            `yaml:"restart"` // restartPolicy
	// StopGracePeriod exceeds MI's graceful drain of up to 180 s.
	StopGracePeriod string `yaml:"stop_grace_period"`
}

type port struct {
	Target    int    `yaml:"target"`
	Published string `yaml:"published"`
	HostIP    string `yaml:"host_ip,omitempty"`
	Protocol  string `yaml:"protocol"`
}

type volume struct {
	Type     string `yaml:"type"`
	Source   string `yaml:"source"`
	Target   string `yaml:"target"`
	ReadOnly bool   `yaml:"read_only"`
}

type healthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

// entrypoint is every service's entrypoint: it runs MI's start script as
// WSO2's own entrypoint does, and on a stop runs the script's --stop,
// since no signal Docker sends its PID 1 reaches MI (the script says
// why). Compose has no stop hook to run it from, as Kubernetes' preStop.
//
//go:embed entrypoint.sh
var entrypoint []byte

// InboundsDir holds, in the files directory (Options.FilesDir), the
// inbound endpoints the distribution keeps as synapse files.
const InboundsDir = "inbound-endpoints"

// The entrypoint's file among the mounted ones, and where the containers
// see it: outside MI's home, which it does not belong to.
const (
	entrypointFile   = "entrypoint.sh"
	entrypointTarget = "/mictl/entrypoint.sh"
)

// Export makes the Compose file and the files it mounts (paths relative
// to opts.FilesDir).
func Export(in *export.Input, opts Options) (composeFile []byte, files []export.File, err error) {
	if opts.Image, opts.CarbonHome, err = export.ImageAndHome(opts.Image, opts.CarbonHome); err != nil {
		return nil, nil, err
	}
	p := project{Name: in.Prefix, Services: map[string]service{}}
	// Run with sh: mounted read-only, it needs no executable bit.
	files = append(files, export.File{Path: entrypointFile, What: "entrypoint that stops MI with its own --stop", Data: entrypoint, Mode: 0o644})
	written := map[string]bool{}
	for _, inst := range in.Instances {
		tomlPath := inst.Name + "/deployment.toml"
		// Readable by MI's user in the container (uid 10802); the
		// directory holding it is 0700, so no other local user reads the
		// keystore passwords in it.
		files = append(files, export.File{Path: tomlPath, What: "deployment.toml of " + inst.Name, Data: inst.HostTOML, Mode: 0o644})
		s := newService(inst, opts)
		s.Volumes = append(s.Volumes,
			mount(path.Join(opts.FilesDir, entrypointFile), entrypointTarget),
			mount(path.Join(opts.FilesDir, tomlPath), path.Join(opts.CarbonHome, "conf", "deployment.toml")))
		if inst.FileProperties != nil {
			// As deployment.toml: it may hold what $FILE: keeps secret.
			propsPath := inst.Name + "/file.properties"
			files = append(files, export.File{Path: propsPath, What: "file.properties of " + inst.Name, Data: inst.FileProperties, Mode: 0o644})
			s.Volumes = append(s.Volumes, mount(path.Join(opts.FilesDir, propsPath), path.Join(opts.CarbonHome, capp.FilePropertiesFile)))
		}
		for _, c := range inst.CApps {
			// By content: two CApps of one name from different places
			// never overwrite each other.
			rel := "capps/" + c.SHA256[:12] + "/" + c.File
			if !written[rel] {
				written[rel] = true
				what := "CApp " + c.File
				if c.Shipped {
					what += " (shipped in the distribution)"
				}
				files = append(files, export.File{Path: rel, What: what, Data: c.Data, Mode: 0o644})
			}
			s.Volumes = append(s.Volumes, mount(path.Join(opts.FilesDir, rel),
				path.Join(opts.CarbonHome, "repository", "deployment", "server", "carbonapps", c.File)))
		}
		for _, f := range in.Inbounds {
			s.Volumes = append(s.Volumes, mount(path.Join(opts.FilesDir, InboundsDir, f.File),
				path.Join(home.InboundEndpointsDir(opts.CarbonHome), f.File)))
		}
		p.Services[inst.Name] = s
	}
	for _, f := range in.Inbounds {
		files = append(files, export.File{Path: InboundsDir + "/" + f.File, What: "inbound endpoint " + f.File + " (kept in the distribution)", Data: f.Data, Mode: 0o644})
	}
	var buf bytes.Buffer
	for _, line := range in.Header(Command) {
		buf.WriteString("# " + line + "\n")
	}
	buf.WriteString("# Each service runs with its offset, on the ports `mictl ports table` shows;\n" +
		"# stop mictl's own instances (mictl down) before `docker compose up`.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(p); err != nil {
		return nil, nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), files, nil
}

// FileMode is the Compose file's mode: 0600 when a service's environment
// holds a secret (export.HoldsSecret), which only the file's owner, who
// runs docker compose, then reads; 0644 otherwise.
func FileMode(in *export.Input) os.FileMode {
	for _, inst := range in.Instances {
		if slices.ContainsFunc(inst.JVMEnv(), export.HoldsSecret) {
			return 0o600
		}
	}
	return 0o644
}

// literal keeps s as it is through Compose, which reads $ in any value
// as its own variable (the --out path, a CApp's file name, JAVA_OPTS):
// $$ is one $.
func literal(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// mount binds the file at source, relative to the Compose file, read-only
// at target in the container.
func mount(source, target string) volume {
	return volume{Type: "bind", Source: literal("./" + source), Target: literal(target), ReadOnly: true}
}

func newService(inst export.Instance, opts Options) service {
	planned := inst.Ports()
	s := service{
		Image: opts.Image,
		// Compose appends command: to it, so the entrypoint hands the
		// instance's arguments on to the start script. (Setting it drops
		// the image's own command, and WSO2's image has none.)
		Entrypoint: []string{"sh", entrypointTarget, literal(export.StartScript(opts.CarbonHome))},
		// The node identity is the instance's name: stable across
		// restarts, unique in the project (docs/mi-facts.md, env nodeId).
		Environment: map[string]string{"nodeId": inst.Name},
		Restart:     restartPolicy,
		// The entrypoint's --stop starts MI's drain; Docker SIGKILLs
		// whatever still runs after this.
		StopGracePeriod: "200s",
		// WSO2's image has bash but no curl: /healthz over bash's
		// /dev/tcp. 200 only once MI deployed everything (docs/mi-facts.md).
		Healthcheck: healthcheck{
			Test: []string{"CMD", "bash", "-c", fmt.Sprintf(
				"exec 3<>/dev/tcp/127.0.0.1/%d && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '",
				planned[ports.InternalHTTP])},
			Interval: "10s", Timeout: "5s", Retries: 3, StartPeriod: "120s",
		},
	}
	for _, a := range inst.Launch.Args {
		s.Command = append(s.Command, literal(a))
	}
	for _, kv := range append(inst.JVMEnv(), inst.PortEnv...) {
		k, v, _ := strings.Cut(kv, "=")
		s.Environment[k] = literal(v)
	}
	hostIP := inst.Launch.Bind
	if hostIP == "0.0.0.0" || hostIP == "::" {
		hostIP = "" // every address, Compose's default
	}
	// The container runs MI with the instance's offset, so inside it MI
	// listens where mictl's instance does: each port is published on
	// itself. The four, then the extras (its CApps' inbound endpoints).
	for _, p := range append(planned[:], inst.ExtraPorts()...) {
		s.Ports = append(s.Ports, port{Target: p, Published: strconv.Itoa(p), HostIP: hostIP, Protocol: "tcp"})
	}
	return s
}
