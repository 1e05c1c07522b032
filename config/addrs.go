package config

import (
	"net"
	"strings"

	"github.com/hashicorp/go-sockaddr/template"
)

// render expands a go-sockaddr template ("{{ GetPrivateIP }}"); plain
// values pass through.
func render(s string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	out, err := template.Parse(s)
	if err != nil {
		return "", invalid("bad go-sockaddr template %q: %v", s, err)
	}
	return out, nil
}

// singleIP renders s and requires exactly one IP address.
func singleIP(s string) (net.IP, error) {
	out, err := render(s)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(out)
	switch {
	case len(f) == 0 && strings.Contains(s, "GetInterfaceIP"):
		return nil, invalid("%q produced no address (GetInterfaceIP skips addresses that are not forwardable, such as loopback; for those use {{ GetAllInterfaces | include \"name\" \"^lo$\" | include \"type\" \"IPv4\" | attr \"address\" }})", s)
	case len(f) == 0:
		return nil, invalid("%q produced no address", s)
	case len(f) > 1:
		return nil, invalid("%q produced several addresses (%s); pick one", s, strings.Join(f, " "))
	}
	ip := net.ParseIP(f[0])
	if ip == nil {
		return nil, invalid("%q is not an IP address", f[0])
	}
	return normIP(ip), nil
}

// ipList renders a space-separated list of IPs or templates.
func ipList(s string) ([]net.IP, error) {
	out, err := render(s)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(out)
	if len(f) == 0 {
		return nil, invalid("%q produced no address", s)
	}
	ips := make([]net.IP, 0, len(f))
	for _, a := range f {
		if strings.HasPrefix(a, "unix://") {
			return nil, unsupported("unix sockets are not supported by consulate")
		}
		ip := net.ParseIP(a)
		if ip == nil {
			return nil, invalid("%q is not an IP address", a)
		}
		ips = append(ips, normIP(ip))
	}
	return ips, nil
}

// normIP stores IPv4 addresses in their 4-byte form so they compare and
// print simply.
func normIP(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}

// privateIP picks the address to advertise when binding to every
// interface: the first private IP of the bind address's family (as
// Consul's GetPrivateIPv4), else loopback.
func privateIP(v6 bool) net.IP {
	tmpl := `{{ GetPrivateInterfaces | include "type" "IPv4" | limit 1 | attr "address" }}`
	fallback := net.IPv4(127, 0, 0, 1).To4()
	if v6 {
		tmpl = `{{ GetPrivateInterfaces | include "type" "IPv6" | limit 1 | attr "address" }}`
		fallback = net.IPv6loopback
	}
	out, err := template.Parse(tmpl)
	if err != nil {
		return fallback
	}
	f := strings.Fields(out)
	if len(f) == 0 {
		return fallback
	}
	if ip := net.ParseIP(f[0]); ip != nil {
		return normIP(ip)
	}
	return fallback
}

// joinList renders templates in join addresses; one template may yield
// several addresses.
func joinList(in []string) ([]string, error) {
	var out []string
	for _, a := range in {
		if strings.Contains(a, "provider=") {
			return nil, unsupported("cloud auto-join is not available in Consulate (provider %q in %q); list the servers' addresses or a DNS name instead", cloudProvider(a), a)
		}
		r, err := render(a)
		if err != nil {
			return nil, err
		}
		if r == a {
			if s := strings.TrimSpace(a); s != "" {
				out = append(out, s)
			}
			continue
		}
		f := strings.Fields(r)
		if len(f) == 0 {
			return nil, invalid("%q produced no address", a)
		}
		out = append(out, f...)
	}
	return out, nil
}

// recursorList renders and normalises recursors to ip:port (port 53 by
// default).
func recursorList(in []string) ([]string, error) {
	var out []string
	for _, a := range in {
		r, err := render(a)
		if err != nil {
			return nil, err
		}
		for _, f := range strings.Fields(r) {
			host, port := f, "53"
			if h, p, err := net.SplitHostPort(f); err == nil {
				host, port = h, p
			}
			ip := net.ParseIP(strings.Trim(host, "[]"))
			if ip == nil {
				return nil, invalid("recursor %q is not an IP address", f)
			}
			out = append(out, net.JoinHostPort(normIP(ip).String(), port))
		}
	}
	return out, nil
}

// cloudProvider is the provider=<name> of a go-discover string.
func cloudProvider(s string) string {
	for _, f := range strings.Fields(s) {
		if v, ok := strings.CutPrefix(f, "provider="); ok {
			return v
		}
	}
	return ""
}
