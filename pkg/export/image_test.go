package export_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mictl/mictl/pkg/config"
	"github.com/mictl/mictl/pkg/export"
)

// WSO2's images put MI at /home/wso2carbon/wso2mi-<version>: the home is
// derived from a wso2mi image tagged with that version, taken as given
// from --carbon-home, and asked for where the image does not say it.
func TestImageAndHome(t *testing.T) {
	digest := "@sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		image, home string
		want        string // "" for a refusal asking for --carbon-home
	}{
		{"", "", export.DefaultCarbonHome},
		{export.DefaultImage, "", export.DefaultCarbonHome},
		{"wso2/wso2mi:4.3.0", "", "/home/wso2carbon/wso2mi-4.3.0"},
		{"docker.io/wso2/wso2mi:4.5.0" + digest, "", "/home/wso2carbon/wso2mi-4.5.0"},
		{"registry.example.com:5000/mirror/wso2mi:4.2.0", "", "/home/wso2carbon/wso2mi-4.2.0"},
		{"wso2/wso2mi:4.3.0", "/opt/mi", "/opt/mi"},
		{"registry.example.com/mi:4.4.0", "/opt/mi", "/opt/mi"},
		{"wso2/wso2mi:latest", "", ""},
		{"wso2/wso2mi", "", ""},
		{"wso2/wso2mi" + digest, "", ""},
		{"wso2/wso2mi:4.4.0-capps", "", ""},
		{"registry.example.com/mi:4.4.0", "", ""},
		{"registry.example.com/not-wso2mi:4.4.0", "", ""},
	} {
		_, home, err := export.ImageAndHome(tc.image, tc.home)
		var ce *config.Error
		switch {
		case tc.want != "" && (err != nil || home != tc.want):
			t.Errorf("%q, --carbon-home %q: home %q, err %v; want %s", tc.image, tc.home, home, err, tc.want)
		case tc.want == "" && (!errors.As(err, &ce) || !strings.Contains(err.Error(), "add --carbon-home") || !strings.Contains(err.Error(), tc.image)):
			t.Errorf("%q: home %q, err %v; want a config error naming the image and asking for --carbon-home", tc.image, home, err)
		}
	}
}
