package mgmt

import (
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// The shapes below mirror MI's JSON (management API's CarbonAppResource,
// ApiResource, ProxyServiceResource, InboundEndpointResource and
// /management/server; docs/mi-integrations.md, "Management API").

// Applications is GET /management/applications.
type Applications struct {
	TotalCount  int           `json:"totalCount"`
	ActiveCount int           `json:"activeCount"`
	ActiveList  []Application `json:"activeList"`
	FaultyCount int           `json:"faultyCount"`
	FaultyList  []Application `json:"faultyList"`
}

// Application is one CApp as MI lists it.
type Application struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Artifacts are the artifacts MI deployed from it; type is the part
	// after the slash of the CApp type (api, inbound-endpoint, ...).
	Artifacts []ArtifactRef `json:"artifacts"`
	// ErrorMessage is why MI could not deploy a faulty application (faulty
	// list only, MI >= 4.3).
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// ID is MI's identifier of the application, name_version.
func (a Application) ID() string {
	if a.Version == "" {
		return a.Name
	}
	return a.Name + "_" + a.Version
}

// ArtifactRef is one artifact of an Application.
type ArtifactRef struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// API is one entry of GET /management/apis.
type API struct {
	Name string `json:"name"`
	URL  string `json:"url"` // e.g. http://localhost:8290/orders
}

// ProxyService is one entry of GET /management/proxy-services.
type ProxyService struct {
	Name   string `json:"name"`
	WSDL11 string `json:"wsdl1_1"`
	WSDL20 string `json:"wsdl2_0"`
}

// InboundEndpoint is one entry of GET /management/inbound-endpoints.
type InboundEndpoint struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
}

// Server is GET /management/server.
type Server struct {
	ProductName        string `json:"productName"`
	ProductVersion     string `json:"productVersion"`
	CarbonHome         string `json:"carbonHome"`
	RepositoryLocation string `json:"repositoryLocation"`
	WorkDirectory      string `json:"workDirectory"`
	JavaHome           string `json:"javaHome"`
	JavaVersion        string `json:"javaVersion"`
	JavaVendor         string `json:"javaVendor"`
	OSName             string `json:"osName"`
	OSVersion          string `json:"osVersion"`
}

// List is MI's {"count": N, "list": [...]}, the body of the artifact
// listings (apis, proxy-services, inbound-endpoints).
type List[T any] struct {
	Count int `json:"count"`
	List  []T `json:"list"`
}

// Applications lists the active and the faulty CApps.
func (c *Client) Applications(ctx context.Context) (*Applications, error) {
	var a Applications
	if err := c.call(ctx, "GET", "/management/applications", nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Server describes the server.
func (c *Client) Server(ctx context.Context) (*Server, error) {
	var s Server
	if err := c.call(ctx, "GET", "/management/server", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// APIs lists the deployed APIs.
func (c *Client) APIs(ctx context.Context) ([]API, error) {
	return listOf[API](ctx, c, "/management/apis")
}

// ProxyServices lists the deployed proxy services.
func (c *Client) ProxyServices(ctx context.Context) ([]ProxyService, error) {
	return listOf[ProxyService](ctx, c, "/management/proxy-services")
}

// InboundEndpoints lists the deployed inbound endpoints.
func (c *Client) InboundEndpoints(ctx context.Context) ([]InboundEndpoint, error) {
	return listOf[InboundEndpoint](ctx, c, "/management/inbound-endpoints")
}

func listOf[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var l List[T]
	if err := c.call(ctx, "GET", path, nil, &l); err != nil {
		return nil, err
	}
	return l.List, nil
}

// DeployApplication uploads the .car at path (multipart/form-data, one
// file), which MI writes into repository/deployment/server/carbonapps/ for
// its hot deployer to pick up: the application is deployed at the next
// scan, not when this returns. It returns MI's message.
//
// MI writes the upload in place, not atomically, so its deployer may read a
// half-written file; a caller on the instance's host should rather write
// into carbonapps/ itself (temporary file, then rename).
func (c *Client) DeployApplication(ctx context.Context, path string) (string, error) {
	name := filepath.Base(path)
	if !strings.HasSuffix(name, ".car") {
		return "", fmt.Errorf("deploy %s to %s: MI accepts only files named *.car", path, c.URL())
	}
	body := func() (io.Reader, string, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, "", err
		}
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			defer f.Close()
			part, err := mw.CreateFormFile("file", name)
			if err == nil {
				_, err = io.Copy(part, f)
			}
			if err == nil {
				err = mw.Close()
			}
			pw.CloseWithError(err)
		}()
		return pr, mw.FormDataContentType(), nil
	}
	var r struct{ Message string }
	if err := c.call(ctx, "POST", "/management/applications", body, &r); err != nil {
		return "", err
	}
	return r.Message, nil
}

// UndeployApplication asks MI to delete carbonapps/<name>.car, after which
// its hot deployer undeploys the application at the next scan. name is the
// file's name without .car (name_version for files MI's tooling names),
// as MI's DELETE /management/applications/{name} expects. It returns MI's
// message.
func (c *Client) UndeployApplication(ctx context.Context, name string) (string, error) {
	name = strings.TrimSuffix(name, ".car")
	if name == "" || strings.ContainsAny(name, "/\\") {
		return "", fmt.Errorf("undeploy %q from %s: want a CApp file name without directories", name, c.URL())
	}
	var r struct{ Message string }
	if err := c.call(ctx, "DELETE", "/management/applications/"+url.PathEscape(name), nil, &r); err != nil {
		return "", err
	}
	return r.Message, nil
}
