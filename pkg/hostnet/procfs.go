package hostnet

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// procNetFiles are the /proc/net tables ScanProcFS reads.
var procNetFiles = [...]struct {
	name  string
	proto Proto
}{
	{"tcp", TCP}, {"tcp6", TCP}, {"udp", UDP}, {"udp6", UDP},
}

// procTCPListen is TCP_LISTEN as /proc/net/tcp prints it ("%02X").
const procTCPListen = 0x0A

// ScanProcFS parses <procRoot>/net/{tcp,tcp6,udp,udp6}: the fallback when
// netlink is refused, and the way tests feed fixture files.
//
// Only listening TCP rows (st 0A) count; every UDP row counts, since a
// connected UDP socket holds its local port as firmly as an unconnected one.
//
// The tables cannot tell IPV6_V6ONLY, so every IPv6 socket gets
// V6Only=false: a [::] socket is taken to be dual-stack and to hold the IPv4
// port too. That is the conservative reading for conflict detection (a
// false "busy" costs a different port; a false "free" costs a failed bind).
//
// A missing table is skipped (tcp6/udp6 do not exist when IPv6 is disabled);
// if all four are missing the procRoot is wrong and that is an error.
// Addresses are printed by the kernel as host-order 32-bit words, so they are
// decoded with the host's byte order.
func ScanProcFS(procRoot string) (*Snapshot, error) {
	socks, err := scanProcFS(procRoot, false)
	if err != nil {
		return nil, err
	}
	sortSockets(socks)
	return &Snapshot{Sockets: socks, Source: SourceProcFS}, nil
}

// scanProcFS reads the sockets of the tables under procRoot/net, unsorted:
// with connections, the TCP sockets in holdingStates (ScanConnections'),
// else the listening TCP and every UDP ones (Scan's).
func scanProcFS(procRoot string, connections bool) ([]Socket, error) {
	var socks []Socket
	buf := make([]byte, 64<<10) // one read buffer for all the tables
	found := 0
	for _, f := range procNetFiles {
		if connections && f.proto != TCP {
			continue
		}
		path := filepath.Join(procRoot, "net", f.name)
		var err error
		socks, err = readProcNet(path, f.proto, connections, buf, socks)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found++
	}
	if found == 0 {
		return nil, fmt.Errorf("read %s: none of tcp, tcp6, udp, udp6 exists", filepath.Join(procRoot, "net"))
	}
	return socks, nil
}

// readProcNet appends the sockets of one /proc/net table to out.
func readProcNet(path string, proto Proto, connections bool, buf []byte, out []Socket) ([]Socket, error) {
	f, err := os.Open(path)
	if err != nil {
		return out, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	out, err = parseProcNet(f, proto, connections, buf, out)
	if err != nil {
		return out, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

// parseProcNet parses a /proc/net/{tcp,tcp6,udp,udp6} table:
//
//	sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ...
//	 0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 ...
//
// buf is the initial read buffer (the kernel fills one read with as many
// whole rows as fit). It splits fields by hand rather than with strings.Fields: on a busy host
// the TCP table has tens of thousands of rows and per-row allocations would
// dominate the (already slow) fallback.
func parseProcNet(r io.Reader, proto Proto, connections bool, buf []byte, out []Socket) ([]Socket, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(buf, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue // header
		}
		row := sc.Bytes()
		var fields [10][]byte
		rest := row
		n := 0
		for n < len(fields) {
			var fld []byte
			fld, rest = nextField(rest)
			if fld == nil {
				break
			}
			fields[n] = fld
			n++
		}
		if n == 0 {
			continue // blank line
		}
		if n < len(fields) {
			return out, fmt.Errorf("line %d: %d fields, want at least %d", line, n, len(fields))
		}
		st, ok := parseHex(fields[3], 2)
		if !ok {
			return out, fmt.Errorf("line %d: bad state %q", line, fields[3])
		}
		switch {
		case proto == TCP && connections && !slices.Contains(holdingStates, uint8(st)):
			continue
		case proto == TCP && !connections && st != procTCPListen:
			continue
		}
		addr, port, err := parseHexAddrPort(fields[1])
		if err != nil {
			return out, fmt.Errorf("line %d: local address %q: %w", line, fields[1], err)
		}
		if port == 0 {
			continue
		}
		uid, err := strconv.ParseUint(string(fields[7]), 10, 32)
		if err != nil {
			return out, fmt.Errorf("line %d: bad uid %q", line, fields[7])
		}
		inode, err := strconv.ParseUint(string(fields[9]), 10, 64)
		if err != nil {
			return out, fmt.Errorf("line %d: bad inode %q", line, fields[9])
		}
		sk := Socket{Proto: proto, Addr: addr, Port: port, Inode: inode, UID: uint32(uid)}
		if connections {
			remote, rport, err := parseHexAddrPort(fields[2])
			if err != nil {
				return out, fmt.Errorf("line %d: remote address %q: %w", line, fields[2], err)
			}
			sk.State = tcpStates[uint8(st)]
			if rport != 0 {
				sk.Remote = netip.AddrPortFrom(remote, uint16(rport))
			}
		}
		out = append(out, sk)
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	return out, nil
}

// nextField returns the next space-separated field of b and what follows it;
// field is nil when b holds no more fields.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	if i == len(b) {
		return nil, nil
	}
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\t' {
		j++
	}
	return b[i:j], b[j:]
}

// parseHexAddrPort decodes "0100007F:1F90" or a 32-digit IPv6 form. The
// address is a sequence of 32-bit words printed in host byte order.
func parseHexAddrPort(b []byte) (netip.Addr, int, error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.Addr{}, 0, errors.New("no ':'")
	}
	h, p := b[:i], b[i+1:]
	port, ok := parseHex(p, 4)
	if !ok || len(p) != 4 {
		return netip.Addr{}, 0, errors.New("bad port")
	}
	var a [16]byte
	switch len(h) {
	case 8, 32:
		for w := 0; w < len(h)/8; w++ {
			v, ok := parseHex(h[w*8:w*8+8], 8)
			if !ok {
				return netip.Addr{}, 0, errors.New("bad hex address")
			}
			binary.NativeEndian.PutUint32(a[w*4:], v)
		}
	default:
		return netip.Addr{}, 0, fmt.Errorf("address has %d hex digits, want 8 or 32", len(h))
	}
	if len(h) == 8 {
		return netip.AddrFrom4([4]byte(a[:4])), int(port), nil
	}
	return netip.AddrFrom16(a), int(port), nil
}

// parseHex parses up to maxDigits hex digits without allocating.
func parseHex(b []byte, maxDigits int) (uint32, bool) {
	if len(b) == 0 || len(b) > maxDigits {
		return 0, false
	}
	var v uint32
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(c)
	}
	return v, true
}
