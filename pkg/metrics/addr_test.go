package metrics

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
)

func TestParseAddr(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "127.0.0.1:9464", want: "127.0.0.1:9464"},
		{in: ":9464", want: "127.0.0.1:9464"},
		{in: "9464", want: "127.0.0.1:9464"},
		{in: " 9464 ", want: "127.0.0.1:9464"},
		{in: "0.0.0.0:9464", want: "0.0.0.0:9464"},
		{in: "[::1]:9464", want: "[::1]:9464"},
		{in: "[::]:9464", want: "[::]:9464"},
		{in: "", err: "empty address"},
		{in: "localhost:9464", err: `"localhost" is not an IP address`},
		{in: "127.0.0.1", err: "is not host:port"},
		{in: "127.0.0.1:0", err: "not a number from 1 to 65535"},
		{in: "127.0.0.1:65536", err: "not a number from 1 to 65535"},
		{in: "127.0.0.1:http", err: "not a number from 1 to 65535"},
		{in: "[fe80::1%eth0]:9464", err: "zoned address"},
		{in: "1.2.3.4:5:6", err: "is not host:port"},
	}
	for _, tt := range tests {
		got, err := ParseAddr(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseAddr(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseAddr(%q) = %q, %v; want an error with %q", tt.in, got, err, tt.err)
		}
	}
}

func TestListenInUseNamesTheHolder(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, err = Listen(held.Addr().String())
	if err == nil {
		t.Fatal("Listen on a port in use succeeded")
	}
	want := fmt.Sprintf("%s is already in use by pid %d", held.Addr(), os.Getpid())
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "metrics_addr") {
		t.Errorf("Listen on a port in use: %v\nwant it to say %q and name metrics_addr", err, want)
	}
}

func TestListenNoSuchAddress(t *testing.T) {
	// 192.0.2.0/24 is TEST-NET-1: never a host's address.
	_, err := Listen("192.0.2.1:9464")
	if err == nil || !strings.Contains(err.Error(), "no such address") {
		t.Errorf("Listen on an address the host lacks: %v", err)
	}
}
