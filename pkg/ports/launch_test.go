package ports

import "testing"

// java keeps the last value of a property, and MI's script puts JAVA_OPTS
// before the arguments; a value that is no port pins nothing.
func TestPinnedJMXPort(t *testing.T) {
	for _, c := range []struct {
		env, args []string
		want      int
	}{
		{nil, nil, 0},
		{[]string{"JAVA_OPTS=-Xmx1g -D" + JMXPortProperty + "=9999"}, nil, 9999},
		{[]string{"JAVA_OPTS=-D" + JMXPortProperty + "=9999"}, []string{"-D" + JMXPortProperty + "=7000"}, 7000},
		{[]string{"JAVA_OPTS=-D" + JMXPortProperty + "=9999 -D" + JMXPortProperty + "=70000"}, nil, 0},
		{[]string{"JAVA_OPTS_EXTRA=-D" + JMXPortProperty + "=9999"}, nil, 0},
		// MI's script hands java $JVM_MEM_OPTS before $JAVA_OPTS.
		{[]string{"JVM_MEM_OPTS=-Xmx1g -D" + JMXPortProperty + "=9998"}, nil, 9998},
		{[]string{"JAVA_OPTS=-D" + JMXPortProperty + "=9999", "JVM_MEM_OPTS=-D" + JMXPortProperty + "=9998"}, nil, 9999},
	} {
		if got := PinnedJMXPort(c.env, c.args); got != c.want {
			t.Errorf("PinnedJMXPort(%q, %q) = %d, want %d", c.env, c.args, got, c.want)
		}
	}
}

func TestSetsJavaOpts(t *testing.T) {
	for kv, want := range map[string]bool{
		"JAVA_OPTS=-Xmx1g": true, "JVM_MEM_OPTS=": true, "JAVA_OPTS_EXTRA=-Xmx1g": false,
		"JAVA_HOME=/opt/jdk": false, "JAVA_OPTS": true, "X=JAVA_OPTS=": false,
	} {
		if got := SetsJavaOpts(kv); got != want {
			t.Errorf("SetsJavaOpts(%q) = %v, want %v", kv, got, want)
		}
	}
}
