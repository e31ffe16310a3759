package export

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/mictl/mictl/pkg/config"
)

// DefaultImage is WSO2's Micro Integrator image the exports run.
const DefaultImage = "wso2/wso2mi:4.4.0"

// DefaultCarbonHome is the MI home inside DefaultImage (CarbonHomeIn).
const DefaultCarbonHome = wso2Home + "4.4.0"

// wso2Home is where WSO2's images put MI, before its version: the
// Dockerfiles' USER_HOME/wso2mi-<version>.
const wso2Home = "/home/wso2carbon/wso2mi-"

// ImageAndHome completes and checks the image an export runs and MI's
// home inside it: image DefaultImage when empty; carbonHome as given
// (--carbon-home), else derived from the image (CarbonHomeIn).
func ImageAndHome(image, carbonHome string) (string, string, error) {
	if image == "" {
		image = DefaultImage
	}
	if err := ValidateImage(image); err != nil {
		return "", "", err
	}
	if carbonHome == "" {
		home, err := CarbonHomeIn(image)
		return image, home, err
	}
	return image, carbonHome, ValidateCarbonHome(carbonHome)
}

// CarbonHomeIn is MI's home inside image, when its name says it: WSO2's
// images (a wso2mi repository, on any registry) tagged with MI's version
// X.Y.Z put MI at /home/wso2carbon/wso2mi-X.Y.Z. Any other image (a
// custom one, a tag such as latest, a digest alone) may put it anywhere,
// and the wrong home mounts the configuration and CApps where MI never
// looks, so pods run none of the integrations: that is refused, asking
// for --carbon-home, rather than guessed.
func CarbonHomeIn(image string) (string, error) {
	tag := ImageTag(image)
	name, _, _ := strings.Cut(image, "@")
	name = strings.TrimSuffix(name, ":"+tag)
	if path.Base(name) == "wso2mi" && regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(tag) {
		return wso2Home + tag, nil
	}
	return "", &config.Error{Where: "flag --carbon-home", Msg: fmt.Sprintf(
		"the image %s does not say where MI is inside it (only WSO2's wso2mi images tagged with MI's version, X.Y.Z, do: %sX.Y.Z); add --carbon-home with MI's home in the image, e.g. --carbon-home %s for an image built FROM %s",
		image, wso2Home, DefaultCarbonHome, DefaultImage)}
}

// The grammar of an image reference, as container registries and
// Kubernetes read it: [domain[:port]/]path[:tag][@digest]. Compiled at
// the first check, never at start-up (mictl runs as every simulated
// server).
const (
	refComponent = `[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*`
	refDomain    = `(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?`
	refTag       = `[\w][\w.-]{0,127}`
	refDigest    = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
	maxRefName   = 255
)

// ValidateImage explains why ref is not an image reference, or returns nil.
func ValidateImage(ref string) error {
	bad := func(why string) error {
		return &config.Error{Where: "flag --image", Msg: fmt.Sprintf("%q is not an image reference (%s); expected [registry/]name[:tag][@digest], e.g. %s", ref, why, DefaultImage)}
	}
	if ref == "" {
		return bad("it is empty")
	}
	name, digest, hasDigest := strings.Cut(ref, "@")
	if hasDigest && !regexp.MustCompile(`^`+refDigest+`$`).MatchString(digest) {
		return bad("the digest after @ is malformed")
	}
	// A tag follows the last ':' that comes after the last '/'; a ':'
	// before it belongs to a registry's port.
	tag := ""
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, tag = name[:i], name[i+1:]
		if !regexp.MustCompile(`^` + refTag + `$`).MatchString(tag) {
			return bad("the tag after : must be letters, digits, '_', '.' or '-', at most 128")
		}
	}
	if len(name) > maxRefName {
		return bad(fmt.Sprintf("the name is longer than %d characters", maxRefName))
	}
	parts := strings.Split(name, "/")
	// The first part is a registry when it looks like a host.
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		if !regexp.MustCompile(`^` + refDomain + `$`).MatchString(parts[0]) {
			return bad("the registry " + parts[0] + " is not a host name")
		}
		parts = parts[1:]
	}
	component := regexp.MustCompile(`^` + refComponent + `$`)
	for _, p := range parts {
		if !component.MatchString(p) {
			return bad(fmt.Sprintf("the name part %q must be lowercase letters and digits, separated by '.', '_' or '-'", p))
		}
	}
	return nil
}

// ValidateCarbonHome explains why dir cannot be the MI home inside an
// image, or returns nil.
func ValidateCarbonHome(dir string) error {
	if !path.IsAbs(dir) || path.Clean(dir) != dir {
		return &config.Error{Where: "flag --carbon-home", Msg: fmt.Sprintf("%q must be a clean absolute path: the MI home inside the image, e.g. %s", dir, DefaultCarbonHome)}
	}
	return nil
}

// StartScript is MI's start script inside an image whose MI home is
// carbonHome.
func StartScript(carbonHome string) string {
	return path.Join(carbonHome, "bin", "micro-integrator.sh")
}

// StopCommand is the argv that stops the MI of carbonHome gracefully, as
// a container hook runs it: MI's own `micro-integrator.sh --stop`, which
// sends SIGTERM to the MI java named in $CARBON_HOME/wso2carbon.pid (the
// only signal MI drains on: docs/mi-facts.md, "Signals") and returns.
// MI writes that file as its java starts: a stop before it (a pod
// deleted as it starts) waits for it, within the grace period, where
// --stop alone signalled nothing and the grace period ran out.
func StopCommand(carbonHome string) []string {
	return []string{"sh", "-c", `while [ ! -s "$0/wso2carbon.pid" ]; do sleep 1; done; exec sh "$0/bin/micro-integrator.sh" --stop`, carbonHome}
}

// ImageTag is ref's tag, or "" when it has none.
func ImageTag(ref string) string {
	name, _, _ := strings.Cut(ref, "@")
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		return name[i+1:]
	}
	return ""
}
