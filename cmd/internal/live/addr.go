package live

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ListenAddr resolves the address --listen was given: a bare port ("9090")
// or a port without a host (":9090") is the loopback interface's,
// 127.0.0.1; an address with a host ("0.0.0.0:9090", "[::]:9090",
// "myhost:9090") is taken as given. Port 0 asks the system for a free
// port.
func ListenAddr(addr string) (string, error) {
	if addr == "" {
		return "", fmt.Errorf("no address: give a port (9090), :PORT, or HOST:PORT")
	}
	if _, err := strconv.ParseUint(addr, 10, 16); err == nil {
		addr = ":" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not an address: give a port (9090), :PORT, or HOST:PORT", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("%q: the port %q is not a number from 0 to 65535", addr, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if strings.ContainsAny(host, " /") {
		return "", fmt.Errorf("%q: %q is not a host name or IP address", addr, host)
	}
	return net.JoinHostPort(host, port), nil
}

// loopback reports whether a listener's address is the loopback
// interface's alone.
func loopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
