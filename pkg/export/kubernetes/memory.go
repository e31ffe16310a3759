package kubernetes

import (
	"fmt"
	"strconv"
	"strings"
)

// A pod's memory limit holds MI's maximum heap and heapHeadroom beyond
// it, and never less than WSO2's chart's limit. The headroom is for what
// the JVM uses outside its heap (metaspace, code cache, thread stacks,
// direct buffers) and for the diagnostics tool's JVM, which MI's start
// script runs beside it (docs/mi-facts.md): a limit of the heap alone
// gets the container OOM-killed once the heap fills.
const (
	mib           = 1 << 20
	heapHeadroom  = 512 * mib
	chartMemLimit = 1024 * mib // WSO2's chart: 1Gi
)

// heapSetting is the -Xmx (or -XX:MaxHeapSize=) that decides a pod's
// heap, and the variable holding it.
type heapSetting struct {
	option, variable string
	bytes            int64
}

// maxHeap finds the maximum heap that MI's JVM runs with: the last
// setting of vars, name=value pairs in the order the JVM takes them
// (JAVA_TOOL_OPTIONS and JDK_JAVA_OPTIONS it reads itself, then the
// start script passes $JVM_MEM_OPTS and $JAVA_OPTS, split into words).
// ok is false when none sets the heap (the JVM then sizes it from the
// limit).
func maxHeap(vars ...string) (h heapSetting, ok bool) {
	for _, kv := range vars {
		name, value, _ := strings.Cut(kv, "=")
		for _, word := range strings.Fields(value) {
			size, found := strings.CutPrefix(word, "-Xmx")
			if !found {
				size, found = strings.CutPrefix(word, "-XX:MaxHeapSize=")
			}
			if !found {
				continue
			}
			// A size the JVM cannot read stops it from starting, here
			// as under `mictl up`: the limit need not fit it.
			if n, err := jvmSize(size); err == nil {
				h, ok = heapSetting{option: word, variable: name, bytes: n}, true
			}
		}
	}
	return h, ok
}

// jvmSize reads a JVM memory size: digits and an optional unit k, m, g
// or t (either case); no unit means bytes.
func jvmSize(s string) (int64, error) {
	unit := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			unit = 1 << 10
		case 'm', 'M':
			unit = 1 << 20
		case 'g', 'G':
			unit = 1 << 30
		case 't', 'T':
			unit = 1 << 40
		}
		if unit > 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/unit {
		return 0, fmt.Errorf("%q is not a JVM memory size", s)
	}
	return n * unit, nil
}

// memoryLimit is the memory limit of a pod whose JVM settings are vars
// (JVM_MEM_OPTS=..., JAVA_OPTS=..., in the order the JVM takes them), and
// the lines of the note the Deployment's file carries to say why.
func memoryLimit(vars ...string) (limit string, note []string) {
	h, ok := maxHeap(vars...)
	if !ok {
		return quantity(chartMemLimit), []string{fmt.Sprintf(
			"Memory limit %s, WSO2's chart's: no -Xmx sets MI's heap, so the JVM sizes it from the limit.", quantity(chartMemLimit))}
	}
	// Whole MiB, rounded up.
	bytes := max(chartMemLimit, (h.bytes+heapHeadroom+mib-1)/mib*mib)
	return quantity(bytes), []string{
		fmt.Sprintf("Memory limit %s: MI's heap (%s in %s) and %s beyond it for the JVM's", quantity(bytes), h.option, h.variable, quantity(heapHeadroom)),
		fmt.Sprintf("own memory and the diagnostics tool's JVM; at least WSO2's chart's %s.", quantity(chartMemLimit)),
	}
}

// quantity writes a multiple of 1 MiB as a Kubernetes quantity.
func quantity(bytes int64) string {
	if bytes%(1<<30) == 0 {
		return fmt.Sprintf("%dGi", bytes>>30)
	}
	return fmt.Sprintf("%dMi", bytes/mib)
}
