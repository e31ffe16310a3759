package deploytoml

import _ "embed"

//go:embed template/deployment.toml
var template []byte

// Template returns the built-in deployment.toml, modelled on the one MI 4.x
// ships (server, user_store, mediation, keystore and truststore sections with
// their comments). It is the source file when no mi_home is configured, and
// the simulator distribution's conf/deployment.toml.
func Template() []byte {
	return append([]byte(nil), template...)
}
