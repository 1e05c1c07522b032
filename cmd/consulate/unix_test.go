package main

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

// TestUnixSocketHTTPAddr: -http-addr unix:///path and CONSUL_HTTP_ADDR
// reach an agent listening on a Unix socket.
func TestUnixSocketHTTPAddr(t *testing.T) {
	f := newFakeAgent(t)
	f.mu.Lock()
	f.kv["app/x"] = &api.KVPair{Key: "app/x", Value: []byte("over-the-socket"), ModifyIndex: 1}
	f.mu.Unlock()
	sock := filepath.Join(t.TempDir(), "consul.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.srv.Config.Handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	r := runCLI(t, nil, "", "kv", "get", "-http-addr", "unix://"+sock, "app/x")
	wantOK(t, r)
	if strings.TrimSpace(r.stdout) != "over-the-socket" {
		t.Fatalf("flag: %q", r.stdout)
	}
	r = runCLI(t, map[string]string{"CONSUL_HTTP_ADDR": "unix://" + sock}, "", "kv", "get", "app/x")
	wantOK(t, r)
	if strings.TrimSpace(r.stdout) != "over-the-socket" {
		t.Fatalf("env: %q", r.stdout)
	}
}
