package httpapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
)

// withHTTPConfig applies http_config to every request: the configured
// response headers (on every answer, the UI's and errors included, as
// Consul), block_endpoints and allow_write_http_from.
func (s *Server) withHTTPConfig(next http.Handler) http.Handler {
	headers, allowed, blocked := s.cfg.ResponseHeaders, s.cfg.AllowWriteFrom, s.cfg.BlockEndpoints
	if len(headers) == 0 && len(allowed) == 0 && len(blocked) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range headers {
			h.Set(k, v)
		}
		if endpointBlocked(r.URL.Path, blocked) {
			const msg = "Endpoint is blocked by agent configuration"
			s.logger.Error("Request error", "method", r.Method, "url", r.URL.Path, "from", r.RemoteAddr, "error", msg)
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, msg)
			return
		}
		if len(allowed) > 0 && !writeAllowed(r, allowed) {
			http.Error(w, "Access is restricted", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// endpointBlocked tells whether path starts with one of the
// block_endpoints prefixes (a plain string prefix, as Consul's).
func endpointBlocked(path string, blocked []string) bool {
	for _, p := range blocked {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// writeAllowed is Consul's checkWriteAccess: reads always pass, a write
// must come from one of the allowed networks. A Unix socket client (no
// IP) passes: the socket's mode is what guards it.
func writeAllowed(r *http.Request, allowed []*net.IPNet) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr == "" || r.RemoteAddr == "@"
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, n := range allowed {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// setSocketPerms applies unix_sockets to a socket just created: its mode
// (an error fails the listener) and its owner (without the privilege for
// it, a warning).
func (s *Server) setSocketPerms(path string) error {
	p := s.cfg.UnixSockets
	if p == nil {
		return nil
	}
	if p.Mode != 0 {
		if err := os.Chmod(path, p.Mode); err != nil {
			return fmt.Errorf("setting mode of %s: %w", path, err)
		}
	}
	if p.UID >= 0 || p.GID >= 0 {
		if err := os.Chown(path, p.UID, p.GID); err != nil {
			if errors.Is(err, os.ErrPermission) {
				s.logger.Warn("cannot set the owner of the HTTP socket (needs root); leaving it", "path", path, "uid", p.UID, "gid", p.GID, "error", err)
				return nil
			}
			return fmt.Errorf("setting owner of %s: %w", path, err)
		}
	}
	return nil
}
