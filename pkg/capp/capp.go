package capp

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// Bounds on what Read accepts and decompresses.
const (
	// MaxFileSize is the largest .car Read accepts, told by its size before
	// anything is read. Real CApps are kilobytes to a few megabytes.
	MaxFileSize = 512 << 20
	// MaxEntries bounds the zip's entry count (a zip of many tiny entries
	// is another way to make a reader work for nothing).
	MaxEntries = 20000
	// MaxXMLSize bounds one XML entry once decompressed: a zip bomb stops
	// here, after MaxXMLSize bytes of work, whatever its declared size.
	MaxXMLSize = 16 << 20
	// maxTotalXML bounds everything decompressed for one Read.
	maxTotalXML = 64 << 20
)

// The types of the application itself and of the artifacts Read looks into.
const (
	TypeApplication     = "carbon/application"
	TypeAPI             = "synapse/api"
	TypeProxyService    = "synapse/proxy-service"
	TypeInboundEndpoint = "synapse/inbound-endpoint"
	TypeSequence        = "synapse/sequence"
)

// App is one Carbon Application as its .car describes it.
type App struct {
	Name    string
	Version string // "" when artifacts.xml gives none
	Path    string // the file as named to Read / ReadFrom
	Size    int64
	SHA256  string // hex digest of the whole file: tells a rebuilt .car from the one deployed
	// Artifacts are the application's dependencies in artifacts.xml order,
	// include="false" ones too.
	Artifacts []Artifact
	// Inbounds are the listeners the application's inbound endpoints open,
	// in artifact order.
	Inbounds []Inbound
}

// ID is MI's identifier of the application: name_version (MI's
// getAppNameWithVersion), the name alone when there is no version. Two
// applications with one ID cannot be deployed side by side.
func (a *App) ID() string {
	if a.Version == "" {
		return a.Name
	}
	return a.Name + "_" + a.Version
}

// Artifact is one dependency of the application.
type Artifact struct {
	Name       string
	Version    string
	Type       string // e.g. synapse/api, synapse/inbound-endpoint, registry/resource
	ServerRole string // e.g. EnterpriseServiceBus
	Include    bool   // false for include="false": listed, not shipped
	// File is the artifact's own file inside its folder (zip path), "" when
	// artifact.xml names none or the artifact is not included.
	File string
	// ConfigName is the name in the artifact's own XML (the name MI's
	// Management API lists), for the synapse types Read looks into; "" else.
	ConfigName string
	// Context is an API's context (/orders), for synapse/api only.
	Context string
	// APIVersion is a versioned API's version attribute ("" when the API
	// is not versioned): Synapse keys such an API by name and version,
	// so versions of one API run side by side on one context.
	APIVersion string
}

// Stage says where reading a .car failed. MI's outcome depends on it
// (docs/mi-integrations.md, "Faulty applications"): a failure in the
// archive or its descriptors (artifacts.xml, artifact.xml) is logged and the
// application is not deployed, while a failure in an artifact's own
// configuration happens while MI deploys it, so MI lists the application as
// faulty and /healthz turns 500.
type Stage int

// The stages, in the order Read meets them.
const (
	StageArchive    Stage = iota // the file itself: size, zip, entry names
	StageDescriptor              // artifacts.xml or a dependency's artifact.xml
	StageArtifact                // an artifact's own file (API, inbound endpoint XML, ...)
)

func (s Stage) String() string {
	switch s {
	case StageArchive:
		return "archive"
	case StageDescriptor:
		return "descriptor"
	}
	return "artifact"
}

// Error is why a .car was refused.
type Error struct {
	Path   string // the .car
	Entry  string // the zip entry at fault, "" when it is the file itself
	Stage  Stage
	Reason string
	Hint   string // what to do about it
	// ArtifactType is the type of the artifact at fault (StageArtifact).
	ArtifactType string
	// App is the application as far as its descriptors describe it (with
	// its file's Path, Size and SHA256), when the failure is in an
	// artifact's own file (StageArtifact): MI knows that much of an
	// application it lists as faulty. Nil otherwise.
	App *App
	Err error // an underlying error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Entry != "" {
		b.WriteString(": ")
		b.WriteString(e.Entry)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

const hintRebuild = "rebuild the CApp (e.g. with MI's tooling) and check the .car it produced"

// Read reads the .car at path. A file larger than MaxFileSize is refused by
// its size, before any byte of it is read.
func Read(path string) (*App, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Path: path, Stage: StageArchive, Reason: "cannot open: " + errText(err), Hint: "check the path and its permissions", Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &Error{Path: path, Stage: StageArchive, Reason: "cannot stat: " + errText(err), Err: err}
	}
	if !fi.Mode().IsRegular() {
		return nil, &Error{Path: path, Stage: StageArchive, Reason: "not a regular file", Hint: "name a .car file"}
	}
	return ReadFrom(f, fi.Size(), path)
}

// ReadFrom reads a .car of size bytes from r; name is how errors and
// App.Path call it.
func ReadFrom(r io.ReaderAt, size int64, name string) (*App, error) {
	rd := reader{path: name, budget: maxTotalXML}
	if size > MaxFileSize {
		return nil, rd.fail(StageArchive, "", fmt.Sprintf("%d bytes, larger than the %d MiB a CApp may be", size, MaxFileSize>>20),
			"a CApp holds configuration, not data: look for libraries or resources that do not belong in it", nil)
	}
	if size < 0 {
		return nil, rd.fail(StageArchive, "", "negative size", "", nil)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		reason := "not a zip archive"
		if !errors.Is(err, zip.ErrFormat) { // "zip: not a valid zip file" says it again
			reason += " (" + errText(err) + ")"
		}
		return nil, rd.fail(StageArchive, "", reason, "a .car must be a zip file as MI's tooling writes it", err)
	}
	if err := rd.index(zr); err != nil {
		return nil, err
	}
	app, err := rd.app()
	var ae *Error
	if errors.As(err, &ae) && ae.App != nil {
		// MI deploys such an application as faulty: it is a build like
		// any other, told from the next one by its digest.
		if serr := ae.App.stamp(r, size, name); serr != nil {
			return nil, rd.fail(StageArchive, "", "cannot read: "+errText(serr), "", serr)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := app.stamp(r, size, name); err != nil {
		return nil, rd.fail(StageArchive, "", "cannot read: "+errText(err), "", err)
	}
	return app, nil
}

// stamp sets the application's file: its name, size and SHA-256.
func (a *App) stamp(r io.ReaderAt, size int64, name string) error {
	sum := sha256.New()
	if _, err := io.Copy(sum, io.NewSectionReader(r, 0, size)); err != nil {
		return err
	}
	a.Path, a.Size, a.SHA256 = name, size, hex.EncodeToString(sum.Sum(nil))
	return nil
}

// reader holds one Read's state: the zip's entries by cleaned name and the
// decompression budget left.
type reader struct {
	path    string
	entries map[string]*zip.File
	budget  int64
	partial *App // the app as far as descriptors go, for StageArtifact errors
}

func (rd *reader) fail(stage Stage, entry, reason, hint string, err error) *Error {
	e := &Error{Path: rd.path, Entry: entry, Stage: stage, Reason: reason, Hint: hint, Err: err}
	if stage == StageArtifact {
		e.App = rd.partial
	}
	return e
}

// index checks every entry name and keeps the entries by name. A name that
// escapes the archive is refused even though Read never writes a file: the
// same .car goes into MI, which extracts it.
func (rd *reader) index(zr *zip.Reader) error {
	if len(zr.File) > MaxEntries {
		return rd.fail(StageArchive, "", fmt.Sprintf("%d entries, more than the %d a CApp may hold", len(zr.File), MaxEntries), hintRebuild, nil)
	}
	rd.entries = make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		name, err := entryName(f.Name)
		if err != nil {
			return rd.fail(StageArchive, f.Name, err.Error(), "remove the entry: MI would extract it outside its directory", nil)
		}
		if name == "" {
			continue
		}
		if _, dup := rd.entries[name]; dup {
			return rd.fail(StageArchive, f.Name, "the entry appears twice", hintRebuild, nil)
		}
		rd.entries[name] = f
	}
	return nil
}

// entryName cleans a zip entry name; it fails for names that would land
// outside the extraction directory. Directories come back as "".
func entryName(raw string) (string, error) {
	n := strings.ReplaceAll(raw, `\`, "/")
	if strings.HasPrefix(n, "/") || (len(n) >= 2 && n[1] == ':') {
		return "", errors.New("an absolute path in the archive")
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", errors.New("a path that climbs out of the archive (..)")
		}
	}
	if strings.ContainsRune(n, 0) {
		return "", errors.New("a NUL byte in an entry name")
	}
	if strings.HasSuffix(n, "/") {
		return "", nil
	}
	return path.Clean(n), nil
}

// xml returns an entry's bytes, decompressing at most MaxXMLSize of them and
// at most the budget left for this Read.
func (rd *reader) xml(stage Stage, name string) ([]byte, *Error) {
	f := rd.entries[name]
	if f == nil {
		return nil, rd.fail(stage, name, "missing from the archive", hintRebuild, nil)
	}
	limit := int64(MaxXMLSize)
	if rd.budget < limit {
		limit = rd.budget
	}
	if f.UncompressedSize64 > uint64(limit) {
		return nil, rd.fail(stage, name, fmt.Sprintf("%d bytes once decompressed, more than the %d MiB an XML file may be", f.UncompressedSize64, limit>>20), hintRebuild, nil)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, rd.fail(stage, name, "cannot decompress: "+errText(err), hintRebuild, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(rc, limit+1))
	rd.budget -= n
	switch {
	case n > limit:
		return nil, rd.fail(stage, name, fmt.Sprintf("decompresses to more than %d MiB (a zip bomb?)", limit>>20), hintRebuild, nil)
	case err != nil:
		return nil, rd.fail(stage, name, "cannot decompress: "+errText(err), hintRebuild, err)
	}
	return buf.Bytes(), nil
}

// descriptor is one top-level folder's artifact.xml.
type descriptor struct {
	dir  string
	meta artifactXML
}

// app reads artifacts.xml, matches every included dependency to a folder
// and reads the artifacts' own files.
func (rd *reader) app() (*App, error) {
	if rd.entries[artifactsFile] == nil {
		return nil, rd.fail(StageArchive, "", "no "+artifactsFile+" at the root of the archive", "a CApp's zip has artifacts.xml at its root; was a folder zipped instead of its contents?", nil)
	}
	src, xerr := rd.xml(StageDescriptor, artifactsFile)
	if xerr != nil {
		return nil, xerr
	}
	root, err := parseApplication(src)
	if err != nil {
		return nil, rd.fail(StageDescriptor, artifactsFile, err.Error(), hintRebuild, err)
	}
	app := &App{Name: root.Name, Version: root.Version}

	descs, err := rd.descriptors()
	if err != nil {
		return nil, err
	}
	for _, dep := range root.Dependencies {
		a := Artifact{Name: dep.Artifact, Version: dep.Version, ServerRole: dep.ServerRole, Include: !strings.EqualFold(strings.TrimSpace(dep.Include), "false")}
		if a.Include {
			d := findDescriptor(descs, dep.Artifact, dep.Version)
			if d == nil {
				return nil, rd.fail(StageDescriptor, "", fmt.Sprintf("dependency %s (version %s) has no folder whose artifact.xml names it", dep.Artifact, orNone(dep.Version)),
					"include the artifact in the CApp, or mark the dependency include=\"false\"", nil)
			}
			a.Type = d.meta.Type
			if a.ServerRole == "" {
				a.ServerRole = d.meta.ServerRole
			}
			if d.meta.File != "" {
				a.File = d.dir + "/" + d.meta.File
			}
		}
		app.Artifacts = append(app.Artifacts, a)
	}
	rd.partial = app
	for i := range app.Artifacts {
		if err := rd.readArtifact(app, &app.Artifacts[i]); err != nil {
			return nil, err
		}
	}
	return app, nil
}

// descriptors reads the artifact.xml of every top-level folder, sorted by
// folder so that a lookup is deterministic whatever the zip's order.
func (rd *reader) descriptors() ([]descriptor, error) {
	var dirs []string
	for name := range rd.entries {
		dir, file, ok := strings.Cut(name, "/")
		if ok && file == artifactFile {
			dirs = append(dirs, dir)
		}
	}
	sort.Strings(dirs)
	out := make([]descriptor, 0, len(dirs))
	for _, dir := range dirs {
		entry := dir + "/" + artifactFile
		src, xerr := rd.xml(StageDescriptor, entry)
		if xerr != nil {
			return nil, xerr
		}
		meta, err := parseArtifact(src)
		if err != nil {
			return nil, rd.fail(StageDescriptor, entry, err.Error(), hintRebuild, err)
		}
		out = append(out, descriptor{dir: dir, meta: meta})
	}
	return out, nil
}

func findDescriptor(descs []descriptor, name, version string) *descriptor {
	for i := range descs {
		if descs[i].meta.Name == name && descs[i].meta.Version == version {
			return &descs[i]
		}
	}
	return nil
}

// synapseXMLTypes are the artifact types MI hands to a synapse deployer
// that parses the file as XML (SynapseAppDeployer, the types of
// SynapseAppDeployerConstants with a synapse-configs folder). Other
// synapse/ types are not XML: synapse/lib is a connector's zip and
// synapse/metadata the YAML (metadata, OpenAPI) MI's tooling adds per API.
var synapseXMLTypes = map[string]bool{
	TypeAPI: true, TypeProxyService: true, TypeInboundEndpoint: true, TypeSequence: true,
	"synapse/endpoint": true, "synapse/local-entry": true, "synapse/task": true, "synapse/template": true,
	"synapse/message-store": true, "synapse/message-processors": true, "synapse/event-source": true,
}

// readArtifact checks an included artifact's own file and, for the synapse
// types mictl cares about, reads what it declares: an API's context, an
// inbound endpoint's listening ports. Other synapse XML is checked to be
// well-formed, as MI's deployers would parse it; a file of any other type
// is opaque and only has to be in the archive.
func (rd *reader) readArtifact(app *App, a *Artifact) error {
	if !a.Include || a.File == "" {
		return nil
	}
	if rd.entries[a.File] == nil {
		return &Error{Path: rd.path, Entry: a.File, Stage: StageArtifact, ArtifactType: a.Type, App: app,
			Reason: fmt.Sprintf("artifact %s names this file in its artifact.xml, but the archive lacks it", a.Name), Hint: hintRebuild}
	}
	if !synapseXMLTypes[a.Type] {
		return nil
	}
	src, xerr := rd.xml(StageArtifact, a.File)
	if xerr != nil {
		xerr.ArtifactType = a.Type
		return xerr
	}
	cfg, err := parseSynapse(src)
	if err == nil {
		err = a.fill(cfg)
	}
	if err == nil && a.Type == TypeInboundEndpoint {
		var ins []Inbound
		ins, err = inboundsOf(a.Name, cfg)
		app.Inbounds = append(app.Inbounds, ins...)
	}
	if err != nil {
		return &Error{Path: rd.path, Entry: a.File, Stage: StageArtifact, ArtifactType: a.Type, App: app, Reason: err.Error(),
			Hint: "fix the " + a.Type + " artifact " + a.Name + " and rebuild the CApp", Err: err}
	}
	return nil
}

// fill takes the name (and an API's context) from the artifact's own XML.
func (a *Artifact) fill(cfg synapseXML) error {
	want := map[string]string{TypeAPI: "api", TypeProxyService: "proxy", TypeInboundEndpoint: "inboundEndpoint", TypeSequence: "sequence"}[a.Type]
	if want != "" && cfg.XMLName.Local != want {
		return fmt.Errorf("a %s artifact must be a <%s> element, not <%s>", a.Type, want, cfg.XMLName.Local)
	}
	a.ConfigName = strings.TrimSpace(cfg.Name)
	if want != "" && a.ConfigName == "" {
		return fmt.Errorf("<%s> has no name", want)
	}
	if a.Type == TypeAPI {
		a.Context, a.APIVersion = strings.TrimSpace(cfg.Context), strings.TrimSpace(cfg.Version)
		if !strings.HasPrefix(a.Context, "/") {
			return fmt.Errorf("API %s: context %q must start with /", a.ConfigName, a.Context)
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// errText is err's message without Go's "open /x:" style prefixes doubled.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Clashes names what of b's included artifacts MI refuses beside a
// deployed a, as MI does when b deploys second: an API of the same name
// or context, a proxy service of the same name. b is then faulty; none
// means both run side by side.
func (a *App) Clashes(b *App) []string {
	var out []string
	for _, x := range b.Artifacts {
		for _, y := range a.Artifacts {
			if why := clash(x, y); why != "" {
				out = append(out, why)
				break
			}
		}
	}
	return out
}

// clash says why MI refuses artifact x beside a deployed y, "" when it
// does not.
func clash(x, y Artifact) string {
	if !x.Include || !y.Include || x.Type != y.Type || x.ConfigName == "" {
		return ""
	}
	// Synapse keys an API by name and version (SynapseConfiguration.addAPI):
	// versions of one API, on one context, are no clash.
	switch {
	case x.Type == TypeAPI && x.APIVersion != y.APIVersion:
		return ""
	case x.Type == TypeAPI && x.ConfigName == y.ConfigName:
		return "API " + x.ConfigName
	case x.Type == TypeAPI && x.Context != "" && x.Context == y.Context:
		return "API context " + x.Context
	case x.Type == TypeProxyService && x.ConfigName == y.ConfigName:
		return "proxy service " + x.ConfigName
	}
	return ""
}
