package config

import (
	"fmt"
	"net"
	"os/user"
	"strconv"
	"strings"
)

// HTTPConfig is Consul's http_config stanza.
type HTTPConfig struct {
	// ResponseHeaders are added to every HTTP API response (CORS headers
	// such as Access-Control-Allow-Origin are the usual ones).
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
	// AllowWriteHTTPFrom lists the CIDRs writes (any method but GET, HEAD
	// and OPTIONS) may come from; empty allows every address.
	AllowWriteHTTPFrom []string `json:"allow_write_http_from,omitempty"`
	// UseCache false makes ?cached reads go to the servers.
	UseCache *bool `json:"use_cache,omitempty"`
	// MaxHeaderBytes bounds a request's headers (0: Go's default, 1 MB).
	MaxHeaderBytes *int `json:"max_header_bytes,omitempty"`
	// BlockEndpoints lists URL path prefixes the HTTP API refuses with a
	// 403 (e.g. "/v1/acl", "/v1/agent/force-leave").
	BlockEndpoints []string `json:"block_endpoints,omitempty"`
}

// UnixSockets is Consul's unix_sockets stanza: the owner and mode of the
// sockets the agent listens on (addresses.http = "unix:///path").
type UnixSockets struct {
	User  *string `json:"user,omitempty"`
	Group *string `json:"group,omitempty"`
	Mode  *string `json:"mode,omitempty"`
}

// HTTPRuntime is the validated http_config, unix_sockets and the unix
// socket addresses of the HTTP API.
type HTTPRuntime struct {
	ResponseHeaders    map[string]string
	AllowWriteHTTPFrom []*net.IPNet
	// UseCache is http_config.use_cache (default true).
	UseCache       bool
	MaxHeaderBytes int
	// BlockEndpoints is http_config.block_endpoints: path prefixes
	// answered 403 "Endpoint is blocked by agent configuration".
	BlockEndpoints []string
	// UnixSocketPaths are the addresses.http entries of the form
	// unix:///path, served when ports.http is not disabled.
	UnixSocketPaths []string
	// UnixSocketUID and UnixSocketGID own the sockets (nil leaves the
	// process's); UnixSocketMode is their mode (0 leaves the umask's).
	UnixSocketUID  *int
	UnixSocketGID  *int
	UnixSocketMode uint32
}

// httpConfig builds rt.HTTP from http_config and unix_sockets.
func (b *builder) httpConfig(c *Config, rt *Runtime) error {
	h := &rt.HTTP
	h.UseCache = true
	if hc := c.HTTPConfig; hc != nil {
		for k := range hc.ResponseHeaders {
			if strings.TrimSpace(k) == "" || strings.ContainsAny(k, " :\r\n") {
				return b.errorf("http_config.response_headers", "invalid header name %q", k)
			}
		}
		h.ResponseHeaders = hc.ResponseHeaders
		for _, s := range hc.AllowWriteHTTPFrom {
			_, n, err := net.ParseCIDR(strings.TrimSpace(s))
			if err != nil {
				return b.errorf("http_config.allow_write_http_from", "%q is not a CIDR: %v", s, err)
			}
			h.AllowWriteHTTPFrom = append(h.AllowWriteHTTPFrom, n)
		}
		if hc.UseCache != nil {
			h.UseCache = *hc.UseCache
		}
		for _, e := range hc.BlockEndpoints {
			if e = strings.TrimSpace(e); e != "" {
				h.BlockEndpoints = append(h.BlockEndpoints, e)
			}
		}
		if hc.MaxHeaderBytes != nil {
			if *hc.MaxHeaderBytes < 0 {
				return b.errorf("http_config.max_header_bytes", "must not be negative, got %d", *hc.MaxHeaderBytes)
			}
			h.MaxHeaderBytes = *hc.MaxHeaderBytes
		}
	}
	us := c.UnixSockets
	if us == nil {
		return nil
	}
	if us.Mode != nil && *us.Mode != "" {
		m, err := strconv.ParseUint(*us.Mode, 8, 32)
		if err != nil || m > 0o777 {
			return b.errorf("unix_sockets.mode", "%q is not an octal file mode such as \"0700\"", *us.Mode)
		}
		h.UnixSocketMode = uint32(m)
	}
	if us.User != nil && *us.User != "" {
		id, err := lookupID(*us.User, func(n string) (string, error) {
			u, err := user.Lookup(n)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		})
		if err != nil {
			return b.errorf("unix_sockets.user", "%v", err)
		}
		h.UnixSocketUID = &id
	}
	if us.Group != nil && *us.Group != "" {
		id, err := lookupID(*us.Group, func(n string) (string, error) {
			g, err := user.LookupGroup(n)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		})
		if err != nil {
			return b.errorf("unix_sockets.group", "%v", err)
		}
		h.UnixSocketGID = &id
	}
	return nil
}

// lookupID reads a numeric user or group ID, or looks a name up.
func lookupID(v string, lookup func(string) (string, error)) (int, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("invalid ID %d", n)
		}
		return n, nil
	}
	s, err := lookup(v)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

// httpAddrList parses addresses.http: IPs and templates as ipList, and
// unix:///path entries, returned apart.
func httpAddrList(s string) ([]net.IP, []string, error) {
	out, err := render(s)
	if err != nil {
		return nil, nil, err
	}
	var ips []string
	var socks []string
	for _, f := range strings.Fields(out) {
		if p, ok := strings.CutPrefix(f, "unix://"); ok {
			if p == "" {
				return nil, nil, invalid("%q names no socket path", f)
			}
			socks = append(socks, p)
			continue
		}
		ips = append(ips, f)
	}
	if len(ips) == 0 {
		if len(socks) == 0 {
			return nil, nil, invalid("%q produced no address", s)
		}
		return nil, socks, nil
	}
	ipl, err := ipList(strings.Join(ips, " "))
	return ipl, socks, err
}
