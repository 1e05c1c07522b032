package testutil

import (
	"net"
	"testing"
)

// FreePort returns a TCP port free on ip just now (the kernel picks it; a
// listener opened and closed). Another process may take it before the
// caller binds it, so use it on an address of the test's own range.
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("finding a free port on %s: %v", ip, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
