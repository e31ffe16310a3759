package ports

import (
	"slices"
	"strconv"
	"strings"
)

// JMXPortProperty pins MI's JMX agent, whose port is otherwise random
// (docs/mi-facts.md, "Ports").
const JMXPortProperty = "com.sun.management.jmxremote.local.port"

// The mediation debugger's ports as MI ships them (synapse.properties'
// synapse.debugger.port.command and .event), opened with no offset.
const (
	DebuggerCommandPort = 9005
	DebuggerEventPort   = 9006
)

// DebuggerOn reports whether the system properties props turn on MI's
// mediation debugger: -Desb.debug=true or =super, spelled exactly so, as
// ServiceBusInitializer.isRunningDebugMode compares them; a bare
// -Desb.debug or =TRUE leaves it off, and no port opens.
func DebuggerOn(props map[string]string) bool {
	v := props["esb.debug"]
	return v == "true" || v == "super"
}

// JavaOptsVars are the variables whose options reach MI's JVM, in the
// order the JVM takes them (a later -D wins): those the JVM reads itself
// before its command line (JAVA_TOOL_OPTIONS, and JDK_JAVA_OPTIONS, which
// the java launcher of JDK 9 and later puts first on it; MI 4.x runs on
// JDK 11 and later), then those MI's start script hands java
// (docs/mi-facts.md, "Start, stop, files"). Every -D in them reaches MI.
var JavaOptsVars = []string{"JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "JVM_MEM_OPTS", "JAVA_OPTS"}

// JavaOpts is what MI's JVM takes before the start script's own options,
// the JavaOptsVars as getenv reads them.
func JavaOpts(getenv func(string) string) string {
	var words []string
	for _, name := range JavaOptsVars {
		if v := getenv(name); v != "" {
			words = append(words, v)
		}
	}
	return strings.Join(words, " ")
}

// SetsJavaOpts says whether kv (a KEY=VALUE word) sets one of the
// JavaOptsVars.
func SetsJavaOpts(kv string) bool {
	name, _, _ := strings.Cut(kv, "=")
	return slices.Contains(JavaOptsVars, name)
}

// JavaOptsIn is JavaOpts of env (KEY=VALUE words).
func JavaOptsIn(env []string) string {
	return JavaOpts(func(name string) string { return EnvValue(env, name) })
}

// EnvValue is the value of variable name in env (KEY=VALUE words, as
// exec takes them), "" when env does not set it.
func EnvValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// SystemProperties collects the -Dkey=value words of javaOpts and then of
// args, the order java sees them in MI's start script; a later value of a
// property replaces an earlier one, as in java, and -Dkey alone is "".
func SystemProperties(javaOpts string, args []string) map[string]string {
	props := map[string]string{}
	for _, w := range append(strings.Fields(javaOpts), args...) {
		prop, ok := strings.CutPrefix(w, "-D")
		if !ok {
			continue
		}
		if k, v, _ := strings.Cut(prop, "="); k != "" {
			props[k] = v
		}
	}
	return props
}

// PinnedJMXPort is the port an instance launched with env and args has
// its JMX agent listen on, 0 when the JVM picks one at random.
func PinnedJMXPort(env, args []string) int {
	return JMXPort(SystemProperties(JavaOptsIn(env), args))
}

// JMXPort is the port the system properties props pin MI's JMX agent to,
// 0 when they leave it to the JVM.
func JMXPort(props map[string]string) int {
	v, ok := props[JMXPortProperty]
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 || n > MaxPort {
		return 0
	}
	return n
}
