package kubernetes

// The Kubernetes objects this package writes, as small structs with only
// the fields it sets, so mictl links no Kubernetes library (it starts as
// every simulated server). Field names and shapes follow the k8s.io/api
// types; the tests decode every object strictly with those types and send
// it to a real API server.

type meta struct {
	Name        string            `yaml:"name,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// configMap holds a CApp.
type configMap struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	// BinaryData values are base64, as the API's JSON form has them.
	BinaryData map[string]string `yaml:"binaryData"`
}

// secret holds a deployment.toml, or the JVM settings that hold secrets.
type secret struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	Type       string `yaml:"type"`
	// Data values are base64, as the API stores them. Not stringData:
	// it does not round-trip through a server-side apply, which a large
	// CApp needs (kubernetes/website#42603).
	Data map[string]string `yaml:"data"`
}

type service struct {
	APIVersion string      `yaml:"apiVersion"`
	Kind       string      `yaml:"kind"`
	Metadata   meta        `yaml:"metadata"`
	Spec       serviceSpec `yaml:"spec"`
}

type serviceSpec struct {
	Type     string            `yaml:"type"`
	Selector map[string]string `yaml:"selector"`
	Ports    []servicePort     `yaml:"ports"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Protocol   string `yaml:"protocol"`
	Port       int    `yaml:"port"`
	TargetPort string `yaml:"targetPort"` // the container port's name
}

type deployment struct {
	APIVersion string         `yaml:"apiVersion"`
	Kind       string         `yaml:"kind"`
	Metadata   meta           `yaml:"metadata"`
	Spec       deploymentSpec `yaml:"spec"`
}

type deploymentSpec struct {
	Replicas int             `yaml:"replicas"`
	Selector labelSelector   `yaml:"selector"`
	Strategy strategy        `yaml:"strategy"`
	Template podTemplateSpec `yaml:"template"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type strategy struct {
	Type          string        `yaml:"type"`
	RollingUpdate rollingUpdate `yaml:"rollingUpdate"`
}

type rollingUpdate struct {
	MaxSurge       int `yaml:"maxSurge"`
	MaxUnavailable int `yaml:"maxUnavailable"`
}

type podTemplateSpec struct {
	Metadata meta    `yaml:"metadata"`
	Spec     podSpec `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds int                `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               podSecurityContext `yaml:"securityContext"`
	Containers                    []container        `yaml:"containers"`
	Volumes                       []volume           `yaml:"volumes"`
}

type podSecurityContext struct {
	RunAsUser      int            `yaml:"runAsUser"`
	RunAsGroup     int            `yaml:"runAsGroup"`
	FSGroup        int            `yaml:"fsGroup"`
	RunAsNonRoot   bool           `yaml:"runAsNonRoot"`
	SeccompProfile seccompProfile `yaml:"seccompProfile"`
}

type seccompProfile struct {
	Type string `yaml:"type"`
}

type container struct {
	Name            string                   `yaml:"name"`
	Image           string                   `yaml:"image"`
	ImagePullPolicy string                   `yaml:"imagePullPolicy"`
	Args            []string                 `yaml:"args,omitempty"`
	Ports           []containerPort          `yaml:"ports"`
	Env             []envVar                 `yaml:"env"`
	StartupProbe    probe                    `yaml:"startupProbe"`
	LivenessProbe   probe                    `yaml:"livenessProbe"`
	ReadinessProbe  probe                    `yaml:"readinessProbe"`
	Lifecycle       lifecycle                `yaml:"lifecycle"`
	Resources       resources                `yaml:"resources"`
	SecurityContext containerSecurityContext `yaml:"securityContext"`
	VolumeMounts    []volumeMount            `yaml:"volumeMounts"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

type envVar struct {
	Name      string        `yaml:"name"`
	Value     string        `yaml:"value,omitempty"`
	ValueFrom *envVarSource `yaml:"valueFrom,omitempty"`
}

type envVarSource struct {
	FieldRef     *fieldRef          `yaml:"fieldRef,omitempty"`
	SecretKeyRef *secretKeySelector `yaml:"secretKeyRef,omitempty"`
}

type secretKeySelector struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type fieldRef struct {
	APIVersion string `yaml:"apiVersion"`
	FieldPath  string `yaml:"fieldPath"`
}

type probe struct {
	TCPSocket        *tcpSocketAction `yaml:"tcpSocket,omitempty"`
	HTTPGet          *httpGetAction   `yaml:"httpGet,omitempty"`
	PeriodSeconds    int              `yaml:"periodSeconds"`
	TimeoutSeconds   int              `yaml:"timeoutSeconds"`
	FailureThreshold int              `yaml:"failureThreshold"`
}

type tcpSocketAction struct {
	Port string `yaml:"port"` // a container port's name
}

type httpGetAction struct {
	Path   string `yaml:"path"`
	Port   string `yaml:"port"` // a container port's name
	Scheme string `yaml:"scheme"`
}

type lifecycle struct {
	PreStop lifecycleHandler `yaml:"preStop"`
}

type lifecycleHandler struct {
	Exec execAction `yaml:"exec"`
}

type execAction struct {
	Command []string `yaml:"command"` // argv, run without a shell
}

type resources struct {
	Requests resourceList `yaml:"requests"`
	Limits   resourceList `yaml:"limits"`
}

type resourceList struct {
	CPU    string `yaml:"cpu"`
	Memory string `yaml:"memory"`
}

type containerSecurityContext struct {
	AllowPrivilegeEscalation bool         `yaml:"allowPrivilegeEscalation"`
	RunAsNonRoot             bool         `yaml:"runAsNonRoot"`
	Capabilities             capabilities `yaml:"capabilities"`
}

type capabilities struct {
	Drop []string `yaml:"drop"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	SubPath   string `yaml:"subPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

// volume is a ConfigMap's or a Secret's.
type volume struct {
	Name      string           `yaml:"name"`
	ConfigMap *configMapVolume `yaml:"configMap,omitempty"`
	Secret    *secretVolume    `yaml:"secret,omitempty"`
}

type configMapVolume struct {
	Name string `yaml:"name"`
}

type secretVolume struct {
	SecretName  string `yaml:"secretName"`
	DefaultMode int    `yaml:"defaultMode"` // written in decimal
}

type kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Namespace  string   `yaml:"namespace,omitempty"`
	Resources  []string `yaml:"resources"`
}
