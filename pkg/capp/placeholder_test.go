package capp

import "testing"

// FileProperty reads a $FILE: key as java.util.Properties.load does for
// the keys a placeholder can name: any of its three separators, comments
// skipped, the last line for a key winning.
func TestFileProperty(t *testing.T) {
	const data = "# ports\n! a comment too\norders_port = 1\norders.other=2\n  orders_port : 8085  \nws_port\t9090\nempty\nport=x\n"
	for _, c := range []struct {
		key, want string
		found     bool
	}{
		{"orders_port", "8085", true}, // the later line wins
		{"ws_port", "9090", true},
		{"empty", "", true},
		{"port", "x", true},
		{"orders", "", false},
		{"ports", "", false}, // a comment's word is no key
	} {
		if got, found := FileProperty([]byte(data), c.key); got != c.want || found != c.found {
			t.Errorf("FileProperty(%q) = %q, %v; want %q, %v", c.key, got, found, c.want, c.found)
		}
	}
	if got := (Inbound{Placeholder: "$FILE:orders_port"}).FileKey(); got != "orders_port" {
		t.Errorf("FileKey of $FILE:orders_port = %q", got)
	}
	if got := (Inbound{Placeholder: "$SYSTEM:ORDERS"}).FileKey(); got != "" {
		t.Errorf("FileKey of $SYSTEM:ORDERS = %q, want none", got)
	}
}
