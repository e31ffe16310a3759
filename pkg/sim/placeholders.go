package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mictl/mictl/pkg/capp"
)

// resolvePort is the port of an inbound endpoint whose parameter is a
// synapse placeholder, resolved as MI does when it deploys the endpoint
// (synapse's ResolverFactory): $SYSTEM:NAME is the server's environment
// variable NAME, $FILE:key the key in conf/file.properties. A placeholder
// that does not resolve, or to no port, fails the endpoint (the
// application turns faulty), with the resolver's message.
func (s *server) resolvePort(in capp.Inbound) (int, error) {
	kind, key, _ := strings.Cut(in.Placeholder, ":")
	var value string
	var found bool
	var missing string
	switch kind {
	case "$SYSTEM":
		value, found = os.LookupEnv(key)
		missing = "Environment variable could not be found"
	case "$FILE":
		value, found = s.fileProperty(key)
		missing = "File Property variable could not be found"
	default:
		missing = "Resolver could not be found"
	}
	if !found {
		return 0, fmt.Errorf("inbound endpoint %s: %s = %s: %s", in.Name, in.Param, in.Placeholder, missing)
	}
	port, err := capp.ParsePort(strings.TrimSpace(value))
	if err != nil {
		return 0, fmt.Errorf("inbound endpoint %s: %s = %s: Please provide port number as integer instead of port %s", in.Name, in.Param, in.Placeholder, value)
	}
	return port, nil
}

// fileProperty reads key from the home's conf/file.properties, as MI's
// FilePropertyResolver does.
func (s *server) fileProperty(key string) (string, bool) {
	data, err := os.ReadFile(filepath.Join(s.home, filepath.FromSlash(capp.FilePropertiesFile)))
	if err != nil {
		return "", false
	}
	return capp.FileProperty(data, key)
}
