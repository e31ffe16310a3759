package sim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mictl/mictl/pkg/capp"
	"github.com/mictl/mictl/pkg/fsutil"
	"github.com/mictl/mictl/pkg/mgmt"
	"github.com/mictl/mictl/pkg/ports"
)

// The Management API on the internal HTTPS port (docs/mi-integrations.md,
// "Management API"): login with basic auth admin/admin returns an
// AccessToken, every other resource needs it as a bearer token (401
// otherwise).

// managementMux routes /management/*.
func (s *server) managementMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/management/login", s.login)
	authed := map[string]http.HandlerFunc{
		"GET /management/server":                 s.getServer,
		"GET /management/applications":           s.getApplications,
		"POST /management/applications":          s.postApplication,
		"DELETE /management/applications/{name}": s.deleteApplication,
		"GET /management/apis":                   s.getAPIs,
		"GET /management/proxy-services":         s.getProxyServices,
		"GET /management/inbound-endpoints":      s.getInboundEndpoints,
	}
	for pattern, h := range authed {
		mux.HandleFunc(pattern, s.authorized(h))
	}
	mux.HandleFunc("/management/", s.authorized(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"Error": "resource not found"})
	}))
	return mux
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	u, p, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(adminUser)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(adminPassword)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"Error": "Error while authenticating the user"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"AccessToken": s.issueToken(u)})
}

func (s *server) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.validToken(r.Header.Get("Authorization")) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"Error": "Invalid credentials"})
			return
		}
		h(w, r)
	}
}

// ServerInfo is the body of GET /management/server: MI's fields, then the
// simulator's own.
type ServerInfo struct {
	mgmt.Server

	PID        int       `json:"pid"`
	Offset     int       `json:"offset"`
	OffsetFrom string    `json:"offsetFrom"`
	Ports      ports.Set `json:"ports"`
	JMXPort    int       `json:"jmxPort"`
	StartedAt  time.Time `json:"startedAt"`
	Ready      bool      `json:"ready"`
}

func (s *server) getServer(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.serverInfo())
}

func (s *server) serverInfo() ServerInfo {
	info := ServerInfo{
		Server: mgmt.Server{
			ProductName: "WSO2 Micro Integrator", ProductVersion: MIVersion, CarbonHome: s.home,
			RepositoryLocation: filepath.Join(s.home, "repository", "deployment", "server") + "/",
			WorkDirectory:      filepath.Join(s.home, TmpDir, "work"),
			JavaHome:           s.cfg.javaHome, JavaVersion: javaVersion, JavaVendor: "mictl simulator",
			OSName: strings.ToUpper(runtime.GOOS[:1]) + runtime.GOOS[1:], OSVersion: kernelRelease(),
		},
		PID: os.Getpid(), Offset: s.cfg.offset, OffsetFrom: s.cfg.offsetFrom,
		Ports: s.cfg.ports, StartedAt: s.start, Ready: s.ready.Load(),
	}
	s.mu.Lock()
	if s.jmx != nil {
		if a, ok := s.jmx.Addr().(*net.TCPAddr); ok {
			info.JMXPort = a.Port
		}
	}
	s.mu.Unlock()
	return info
}

// kernelRelease is what the JVM reports as os.version on Linux.
func kernelRelease() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

// listed renders an application as MI lists it: the artifacts it ships,
// with the type's part after the slash.
func listed(dep deployed) mgmt.Application {
	j := mgmt.Application{Artifacts: []mgmt.ArtifactRef{}, ErrorMessage: dep.errorMessage}
	if dep.app == nil {
		j.Name = strings.TrimSuffix(dep.file, ".car")
		return j
	}
	j.Name, j.Version = dep.app.Name, dep.app.Version
	for _, a := range dep.app.Artifacts {
		if !a.Include {
			continue
		}
		_, typ, _ := strings.Cut(a.Type, "/")
		j.Artifacts = append(j.Artifacts, mgmt.ArtifactRef{Name: a.Name, Type: typ})
	}
	return j
}

func (s *server) getApplications(w http.ResponseWriter, r *http.Request) {
	out := mgmt.Applications{ActiveList: []mgmt.Application{}, FaultyList: []mgmt.Application{}}
	want := r.URL.Query().Get("carbonAppName")
	for _, dep := range s.deployer.snapshot() {
		switch dep.state {
		case appActive:
			if want != "" && dep.app.Name == want {
				writeJSON(w, http.StatusOK, listed(dep))
				return
			}
			out.ActiveList = append(out.ActiveList, listed(dep))
		case appFaulty:
			out.FaultyList = append(out.FaultyList, listed(dep))
		}
	}
	if want != "" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	out.ActiveCount, out.FaultyCount = len(out.ActiveList), len(out.FaultyList)
	out.TotalCount = out.ActiveCount + out.FaultyCount
	writeJSON(w, http.StatusOK, out)
}

// postApplication takes one .car (multipart/form-data) into carbonapps/,
// where hot deployment picks it up at its next scan, as MI does. MI writes
// the file in place; the simulator replaces it atomically.
func (s *server) postApplication(w http.ResponseWriter, r *http.Request) {
	const prefix = "Error when deploying the Carbon Application. "
	bad := func(msg string) { writeJSON(w, http.StatusBadRequest, map[string]string{"Error": prefix + msg}) }
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		bad("Supports only for the Content-Type : multipart/form-data")
		return
	}
	body := http.MaxBytesReader(w, r.Body, capp.MaxFileSize+1<<20)
	// Read what is left of a refused upload, so that the client, still
	// sending, gets the answer rather than a broken pipe.
	defer io.Copy(io.Discard, body)
	mr := multipart.NewReader(body, params["boundary"])
	var name string
	var data []byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			bad("No valid message body found. ")
			return
		}
		// The raw file name: Part.FileName drops directories, which MI
		// refuses rather than drops.
		_, disp, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		file, isFile := disp["filename"]
		if !isFile {
			continue
		}
		if name != "" {
			bad("Uploading Multiple files in one request is not supported. ")
			return
		}
		name = file
		if data, err = io.ReadAll(part); err != nil {
			bad("No valid message body found. ")
			return
		}
	}
	switch {
	case name == "":
		bad("No file exist to be uploaded. ")
		return
	case !strings.HasSuffix(name, ".car"):
		bad("Only files with the extension .car is supported. ")
		return
	case strings.ContainsAny(name, `/\`) || name == ".car":
		bad("Invalid file name.")
		return
	}
	dir := s.deployer.dir
	err = os.MkdirAll(dir, 0o755)
	if err == nil {
		err = fsutil.ReplaceFile(filepath.Join(dir, name), data, 0o644)
	}
	if err != nil {
		s.log.error("CarbonAppResource", "Error when deploying the Carbon Application %s: %v", name, err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"Error": "Error when deploying the Carbon Application "})
		return
	}
	s.log.info("CarbonAppResource", "Successfully added Carbon Application : %s", name)
	writeJSON(w, http.StatusOK, map[string]string{"Message": "Successfully added Carbon Application " + name})
}

// deleteApplication removes carbonapps/<name>.car (name is the file's name
// without .car, as MI takes it); hot deployment undeploys it.
func (s *server) deleteApplication(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	path := filepath.Join(s.deployer.dir, name+".car")
	if strings.ContainsAny(name, `/\`) || name == "" || name == "." || name == ".." {
		writeJSON(w, http.StatusNotFound, map[string]string{"Error": "Cannot remove the Carbon Application." + name + " does not exist"})
		return
	}
	if err := os.Remove(path); err != nil {
		if os.IsNotExist(err) {
			writeJSON(w, http.StatusNotFound, map[string]string{"Error": "Cannot remove the Carbon Application." + name + " does not exist"})
			return
		}
		writeJSON(w, http.StatusInternalServerError, map[string]string{"Error": "Error when removing the Carbon Application " + name + ".car"})
		return
	}
	s.log.info("CarbonAppResource", "%s.car file deleted from %s directory", name, s.deployer.dir)
	writeJSON(w, http.StatusOK, map[string]string{"Message": "Successfully removed Carbon Application named " + name})
}

func (s *server) getAPIs(w http.ResponseWriter, r *http.Request) {
	out := mgmt.List[mgmt.API]{List: []mgmt.API{}}
	for _, dep := range s.deployer.snapshot() {
		for _, a := range dep.apis {
			out.List = append(out.List, mgmt.API{Name: a.name, URL: strings.TrimSuffix(s.serviceURL("http", "/"), "/") + a.context})
		}
	}
	out.Count = len(out.List)
	writeJSON(w, http.StatusOK, out)
}

func (s *server) getProxyServices(w http.ResponseWriter, r *http.Request) {
	out := mgmt.List[mgmt.ProxyService]{List: []mgmt.ProxyService{}}
	for _, dep := range s.deployer.snapshot() {
		for _, p := range dep.proxies {
			base := s.serviceURL("http", "/services/"+p)
			out.List = append(out.List, mgmt.ProxyService{Name: p, WSDL11: base + "?wsdl", WSDL20: base + "?wsdl2"})
		}
	}
	out.Count = len(out.List)
	writeJSON(w, http.StatusOK, out)
}

func (s *server) getInboundEndpoints(w http.ResponseWriter, r *http.Request) {
	out := mgmt.List[mgmt.InboundEndpoint]{List: []mgmt.InboundEndpoint{}}
	seen := map[string]bool{}
	for _, l := range s.deployer.inbounds() {
		if !seen[l.name] {
			seen[l.name] = true
			out.List = append(out.List, mgmt.InboundEndpoint{Name: l.name, Protocol: l.protocol})
		}
	}
	out.Count = len(out.List)
	writeJSON(w, http.StatusOK, out)
}

func (s *server) issueToken(user string) string {
	enc := base64.RawURLEncoding
	var nonce [24]byte
	rand.Read(nonce[:])
	hdr := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body, _ := json.Marshal(map[string]any{"sub": user, "iss": "mictl-sim", "iat": time.Now().Unix(), "jti": enc.EncodeToString(nonce[:12])})
	tok := hdr + "." + enc.EncodeToString(body) + "." + enc.EncodeToString(nonce[12:])
	s.tokens.add(tok, time.Now())
	return tok
}

func (s *server) validToken(authz string) bool {
	tok, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok || tok == "" {
		return false
	}
	return s.tokens.valid(tok, time.Now())
}
