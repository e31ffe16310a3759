package hostnet

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The fixtures under testdata/proc are written as a little-endian kernel
// prints them (addresses are host-order words).
func skipIfBigEndian(t *testing.T) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("fixtures are little-endian /proc/net tables")
	}
}

func TestScanProcFSFixtures(t *testing.T) {
	skipIfBigEndian(t)
	snap, err := ScanProcFS("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Source != SourceProcFS || snap.Fallback != nil {
		t.Fatalf("Source=%q Fallback=%v, want procfs and nil", snap.Source, snap.Fallback)
	}
	type row struct {
		proto Proto
		ep    string
		inode uint64
		uid   uint32
	}
	// Sorted as ScanProcFS sorts: proto, port, address, inode. ESTABLISHED,
	// TIME_WAIT and CLOSING TCP rows (inodes 1003, 1004, 0, 1005, 2004) are
	// absent; the connected UDP row (3003) is present.
	want := []row{
		{TCP, "[fe80::200:ff:fe00:3]:8081", 2005, 0},
		{TCP, "[::ffff:127.0.0.1]:9201", 2003, 1001},
		{TCP, "127.0.0.1:9201", 1002, 0},
		{TCP, "[::1]:9164", 2002, 1000},
		{TCP, "0.0.0.0:8290", 1001, 1000},
		{TCP, "[::]:8290", 2001, 1000},
		{UDP, "127.0.0.53:53", 3002, 101},
		{UDP, "[::]:5353", 4001, 107},
		{UDP, "0.0.0.0:40000", 3001, 1000},
		{UDP, "127.0.0.1:45000", 3003, 1000},
	}
	var got []row
	for _, s := range snap.Sockets {
		if s.V6Only {
			t.Errorf("%s: V6Only=true, but /proc/net cannot know it", s.Endpoint())
		}
		got = append(got, row{s.Proto, s.Endpoint(), s.Inode, s.UID})
	}
	// Compare as sets with a readable diff; order is checked separately.
	if len(got) != len(want) {
		t.Errorf("got %d sockets, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	in := func(rs []row, r row) bool {
		for _, x := range rs {
			if x == r {
				return true
			}
		}
		return false
	}
	for _, w := range want {
		if !in(got, w) {
			t.Errorf("missing %+v", w)
		}
	}
	for _, g := range got {
		if !in(want, g) {
			t.Errorf("unexpected %+v", g)
		}
	}
	for i := 1; i < len(snap.Sockets); i++ {
		a, b := snap.Sockets[i-1], snap.Sockets[i]
		if a.Proto > b.Proto || (a.Proto == b.Proto && a.Port > b.Port) {
			t.Errorf("not sorted: %v before %v", a, b)
		}
	}

	// The overlap rules on parsed data: 9201 on 127.0.0.1 is held twice
	// (plain and v4-mapped), 8290 on 0.0.0.0 by both wildcards.
	if h := snap.Holding(TCP, 9201, mustAddr("127.0.0.1")); len(h) != 2 {
		t.Errorf("Holding(tcp 127.0.0.1:9201) = %v, want 2 sockets", h)
	}
	if h := snap.Holding(TCP, 8290, mustAddr("0.0.0.0")); len(h) != 2 {
		t.Errorf("Holding(tcp 0.0.0.0:8290) = %v, want 2 sockets", h)
	}
	if h := snap.Holding(TCP, 8253, mustAddr("0.0.0.0")); len(h) != 0 {
		t.Errorf("Holding(tcp 0.0.0.0:8253) = %v; 8253 only appears in an ESTABLISHED row", h)
	}
}

func TestScanProcFSMissingTables(t *testing.T) {
	// IPv6 disabled: only tcp and udp exist. That is fine.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tcp", "udp"} {
		b, err := os.ReadFile(filepath.Join("testdata/proc/net", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "net", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := ScanProcFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Sockets) != 5 {
		t.Errorf("got %d sockets, want 5 (2 tcp + 3 udp)", len(snap.Sockets))
	}

	// No table at all: the procRoot is wrong.
	_, err = ScanProcFS(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "none of tcp, tcp6, udp, udp6") {
		t.Fatalf("ScanProcFS(empty dir) error = %v", err)
	}
}

func TestParseProcNetErrors(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	tests := []struct {
		name, row, wantErr string
	}{
		{"short row", "0: 0100007F:1F90 00000000:0000 0A\n", "line 2: 4 fields"},
		{"bad state", "0: 0100007F:1F90 00000000:0000 ZZ 0:0 0:0 0 0 0 1\n", "bad state"},
		{"bad hex address", "0: 0100G07F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1\n", "bad hex address"},
		{"odd address length", "0: 0100007F00:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1\n", "10 hex digits"},
		{"no port", "0: 0100007F 00000000:0000 0A 0:0 0:0 0 0 0 1\n", "no ':'"},
		{"bad uid", "0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 x 0 1\n", "bad uid"},
		{"bad inode", "0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 -1\n", "bad inode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseProcNet(strings.NewReader(header+tc.row), TCP, false, make([]byte, 4096), nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
	// Errors name the file.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "net"), 0o755)
	os.WriteFile(filepath.Join(dir, "net", "tcp6"), []byte(header+tests[0].row), 0o644)
	_, err := ScanProcFS(dir)
	if err == nil || !strings.Contains(err.Error(), "read "+filepath.Join(dir, "net", "tcp6")+": line 2") {
		t.Fatalf("error = %v, want it to name the file and line", err)
	}
}

func TestEphemeralRangeFixture(t *testing.T) {
	lo, hi, err := ephemeralRangeIn("testdata/proc")
	if err != nil || lo != 32768 || hi != 60999 {
		t.Fatalf("ephemeralRangeIn(testdata/proc) = %d, %d, %v; want 32768, 60999", lo, hi, err)
	}
	for _, bad := range []string{"", "1", "a b", "3 2", "0 10", "1 70000", "1 2 3"} {
		if _, _, err := parsePortRange(bad); err == nil {
			t.Errorf("parsePortRange(%q) succeeded", bad)
		}
	}
	if _, _, err := ephemeralRangeIn(t.TempDir()); err == nil || !strings.Contains(err.Error(), "ip_local_port_range") {
		t.Errorf("missing file: error = %v", err)
	}
}

// The ports an administrator reserved inside the ephemeral range are
// read as the kernel lists them, so that the check does not warn of them.
func TestLocalReservedPortsFixture(t *testing.T) {
	r, err := localReservedPortsIn("testdata/proc")
	if want := (PortRanges{{8080, 8080}, {33000, 33100}, {40000, 40000}}); err != nil || !slices.Equal(r, want) {
		t.Fatalf("localReservedPortsIn(testdata/proc) = %v, %v; want %v", r, err, want)
	}
	for port, want := range map[int]bool{8080: true, 8081: false, 32999: false, 33000: true, 33100: true, 33101: false, 40000: true} {
		if r.Contains(port) != want {
			t.Errorf("Contains(%d) = %v, want %v", port, !want, want)
		}
	}
	if r, err := parsePortList("\n"); err != nil || r != nil {
		t.Errorf("parsePortList of an empty line = %v, %v; want none", r, err)
	}
	for _, bad := range []string{"a", "1-", "-5", "3-2", "0", "1,70000", "80,,90"} {
		if _, err := parsePortList(bad); err == nil {
			t.Errorf("parsePortList(%q) succeeded", bad)
		}
	}
	if _, err := localReservedPortsIn(t.TempDir()); err == nil || !strings.Contains(err.Error(), "ip_local_reserved_ports") {
		t.Errorf("missing file: error = %v", err)
	}
}

// TestOwnersInFixture builds a fake procfs: fd symlinks to "socket:[N]",
// other link kinds, a pid whose fd dir is unreadable, and a socket shared
// by two processes (the lower pid must win).
func TestOwnersInFixture(t *testing.T) {
	root := t.TempDir()
	mk := func(pid int, comm string, links map[string]string) {
		fd := filepath.Join(root, strconv.Itoa(pid), "fd")
		if err := os.MkdirAll(fd, 0o755); err != nil {
			t.Fatal(err)
		}
		if comm != "" {
			os.WriteFile(filepath.Join(root, strconv.Itoa(pid), "comm"), []byte(comm+"\n"), 0o644)
		}
		for name, target := range links {
			if err := os.Symlink(target, filepath.Join(fd, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk(1, "init", map[string]string{"0": "/dev/null", "3": "socket:[500]"})
	mk(42, "java", map[string]string{"0": "/dev/null", "5": "socket:[1001]", "6": "socket:[1002]", "7": "anon_inode:[eventpoll]", "8": "pipe:[77]"})
	mk(300, "sh", map[string]string{"9": "socket:[1001]", "10": "socket:[2001]"})
	mk(1000, "", map[string]string{"3": "socket:[abc]", "4": "socket:[]", "5": "socket:[3001"})
	os.MkdirAll(filepath.Join(root, "self"), 0o755) // non-numeric entries are not pids
	os.WriteFile(filepath.Join(root, "uptime"), []byte("1 1\n"), 0o644)

	got := ownersIn(root, 1001, 1002, 2001, 500, 9999, 3001)
	want := map[uint64]Process{
		500:  {PID: 1, Comm: "init"},
		1001: {PID: 42, Comm: "java"}, // shared with 300; lower pid wins
		1002: {PID: 42, Comm: "java"},
		2001: {PID: 300, Comm: "sh"},
	}
	if len(got) != len(want) {
		t.Errorf("ownersIn = %v, want %v", got, want)
	}
	for ino, w := range want {
		if got[ino] != w {
			t.Errorf("owner of %d = %v, want %v", ino, got[ino], w)
		}
	}
	if len(ownersIn(root)) != 0 {
		t.Error("ownersIn with no inodes is not empty")
	}
	if len(ownersIn(filepath.Join(root, "nope"), 1001)) != 0 {
		t.Error("ownersIn on a missing procRoot is not empty")
	}

	inos, err := socketInodesIn(root, 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(inos) != 2 {
		t.Errorf("socketInodesIn(42) = %v, want {1001, 1002}", inos)
	}
	for _, ino := range []uint64{1001, 1002} {
		if _, ok := inos[ino]; !ok {
			t.Errorf("socketInodesIn(42) lacks %d", ino)
		}
	}
	if _, err := socketInodesIn(root, 7); err == nil || !strings.Contains(err.Error(), filepath.Join(root, "7", "fd")) {
		t.Errorf("socketInodesIn(missing pid) error = %v, want one naming the fd dir", err)
	}
}

func TestParseSocketLink(t *testing.T) {
	for in, want := range map[string]int64{
		"socket:[0]":          0,
		"socket:[4026531993]": 4026531993,
		"socket:[]":           -1,
		"socket:[12":          -1,
		"socket:[1a]":         -1,
		"pipe:[12]":           -1,
		"/dev/null":           -1,
	} {
		v, ok := parseSocketLink([]byte(in))
		if (want < 0 && ok) || (want >= 0 && (!ok || v != uint64(want))) {
			t.Errorf("parseSocketLink(%q) = %d, %v; want %d", in, v, ok, want)
		}
	}
}

// An API Manager, an Identity Server and a Micro Integrator beside the
// instances are all "java" to comm: the holder of a port said "pid 2061
// (java)" whichever it was. Each WSO2 product's start script hands java
// -Dcarbon.home=DIR, which tells them apart.
func TestOwnersNameTheCarbonHome(t *testing.T) {
	root := t.TempDir()
	mk := func(pid int, comm string, ino uint64, args ...string) {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(fmt.Sprintf("socket:[%d]", ino), filepath.Join(dir, "fd", "3")); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "comm"), []byte(comm+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.Join(args, "\x00")+"\x00"), 0o444)
	}
	mk(2061, "java", 1, "/usr/lib/jvm/java-17/bin/java", "-Xms256m", "-Dcom.sun.management.jmxremote", "-Dcarbon.home=/opt/wso2am-4.2.0", "org.wso2.carbon.bootstrap.Bootstrap")
	mk(2062, "java", 2, "java", "-Dcarbon.home=/opt/wso2is-7.0.0", "-Dcarbon.home=/opt/wso2is", "org.wso2.carbon.bootstrap.Bootstrap")
	mk(2063, "python3", 3, "python3", "-m", "http.server", "9443")
	want := map[uint64]string{
		1: "pid 2061 (java, carbon.home /opt/wso2am-4.2.0)",
		2: "pid 2062 (java, carbon.home /opt/wso2is)", // the last one, which java takes
		3: "pid 2063 (python3)",
	}
	got := ownersIn(root, 1, 2, 3)
	for ino, w := range want {
		if s := got[ino].String(); s != w {
			t.Errorf("owner of %d = %q, want %q", ino, s, w)
		}
	}
	if p := got[1]; p.Comm != "java" { // holder_process in -o json stays the command
		t.Errorf("owner of 1 = %+v, want comm java", p)
	}
}
