package config

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestHTTPConfigAndUnixSockets(t *testing.T) {
	uid := strconv.Itoa(os.Getuid())
	hcl := `
addresses { http = "127.0.18.9 unix:///tmp/consulate-test.sock" }
http_config {
  response_headers { "Access-Control-Allow-Origin" = "*" }
  allow_write_http_from = ["127.0.0.0/8", "::1/128"]
  use_cache = false
  max_header_bytes = 4096
  block_endpoints = ["/v1/acl", "/v1/agent/force-leave"]
}
unix_sockets { user = "` + uid + `" mode = "0700" }
`
	js := `{"addresses": {"http": "127.0.18.9 unix:///tmp/consulate-test.sock"},
"http_config": {"response_headers": {"Access-Control-Allow-Origin": "*"}, "allow_write_http_from": ["127.0.0.0/8", "::1/128"],
 "use_cache": false, "max_header_bytes": 4096, "block_endpoints": ["/v1/acl", "/v1/agent/force-leave"]},
"unix_sockets": {"user": "` + uid + `", "mode": "0700"}}`
	for name, src := range map[string]Source{"hcl": data("h.hcl", hcl), "json": data("h.json", js)} {
		rt := tlsLoad(t, src)
		h := rt.HTTP
		if h.ResponseHeaders["Access-Control-Allow-Origin"] != "*" || len(h.AllowWriteHTTPFrom) != 2 || h.UseCache ||
			h.MaxHeaderBytes != 4096 || !slices.Equal(h.BlockEndpoints, []string{"/v1/acl", "/v1/agent/force-leave"}) || h.UnixSocketMode != 0o700 || h.UnixSocketUID == nil || *h.UnixSocketUID != os.Getuid() || h.UnixSocketGID != nil {
			t.Fatalf("%s: %+v", name, h)
		}
		want := []string{"127.0.18.9:8500", "unix:///tmp/consulate-test.sock"}
		if got := rt.HTTPAddrs(); !slices.Equal(got, want) {
			t.Fatalf("%s: HTTPAddrs %v, want %v", name, got, want)
		}
	}
	rt := tlsLoad(t, data("d.json", `{}`))
	if !rt.HTTP.UseCache || rt.HTTP.UnixSocketUID != nil || len(rt.HTTP.UnixSocketPaths) != 0 {
		t.Fatalf("defaults %+v", rt.HTTP)
	}
	// Only a socket: no TCP listener.
	rt = tlsLoad(t, data("s.json", `{"addresses": {"http": "unix:///tmp/only.sock"}}`))
	if got := rt.HTTPAddrs(); !slices.Equal(got, []string{"unix:///tmp/only.sock"}) {
		t.Fatalf("socket only: %v", got)
	}

	for _, c := range []struct{ body, key string }{
		{`{"http_config": {"allow_write_http_from": ["10.0.0.1"]}}`, "http_config.allow_write_http_from"},
		{`{"http_config": {"max_header_bytes": -1}}`, "http_config.max_header_bytes"},
		{`{"unix_sockets": {"mode": "rwx"}}`, "unix_sockets.mode"},
		{`{"unix_sockets": {"user": "no-such-user-consulate"}}`, "unix_sockets.user"},
		{`{"http_config": {"bogus": 1}}`, "http_config.bogus"},
	} {
		_, err := Load(LoadOpts{Sources: []Source{data("bad.json", c.body)}, Flags: flags(func(c *Config) { c.DataDir = ptr("/tmp/x"); c.NodeName = ptr("n") })})
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(ce.Key, c.key) {
			t.Errorf("%s: err %v, want one naming %s", c.body, err, c.key)
		}
	}
}
