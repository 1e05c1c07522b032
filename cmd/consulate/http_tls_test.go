package main

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"consulate/internal/testcerts"
)

// tlsAgent serves f's handler over HTTPS with a certificate of ca,
// requiring client certificates, and records the tokens it was sent.
type tlsAgent struct {
	*fakeAgent
	addr   string // host:port
	mu     sync.Mutex
	tokens []string
}

func newTLSAgent(t *testing.T, ca *testcerts.CA) *tlsAgent {
	t.Helper()
	f := newFakeAgent(t)
	a := &tlsAgent{fakeAgent: f}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.tokens = append(a.tokens, r.Header.Get("X-Consul-Token"))
		a.mu.Unlock()
		f.srv.Config.Handler.ServeHTTP(w, r)
	}))
	ts.TLS = ca.ServerConfig(ca.Leaf(t, "server.dc1.consul"), true)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	ts.StartTLS()
	t.Cleanup(ts.Close)
	a.addr = strings.TrimPrefix(ts.URL, "https://")
	wantOK(t, f.run("kv", "put", "app/config", "over tls"))
	return a
}

func (a *tlsAgent) lastToken() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.tokens) == 0 {
		return ""
	}
	return a.tokens[len(a.tokens)-1]
}

func TestTLSFlags(t *testing.T) {
	ca := testcerts.NewCA(t)
	a := newTLSAgent(t, ca)
	caFile, certFile, keyFile := ca.WriteFiles(t, "cli.dc1.consul")
	get := func(env map[string]string, flags ...string) result {
		return runCLI(t, env, "", append(append([]string{"kv", "get"}, flags...), "app/config")...)
	}
	wantValue := func(r result) {
		t.Helper()
		wantOK(t, r)
		if strings.TrimSpace(r.stdout) != "over tls" {
			t.Fatalf("kv get printed %q", r.stdout)
		}
	}
	tlsFlags := []string{"-http-addr=https://" + a.addr, "-ca-file=" + caFile, "-client-cert=" + certFile, "-client-key=" + keyFile}
	wantValue(get(nil, append(tlsFlags, "-token=flag-token")...))
	if a.lastToken() != "flag-token" {
		t.Fatalf("token sent %q", a.lastToken())
	}

	// Without a client certificate the agent refuses the handshake.
	if r := get(nil, "-http-addr=https://"+a.addr, "-ca-file="+caFile); r.code == 0 {
		t.Fatalf("served without a client certificate: %q", r.stdout)
	}
	// Without the CA the client refuses the agent.
	if r := get(nil, "-http-addr=https://"+a.addr, "-client-cert="+certFile, "-client-key="+keyFile); r.code == 0 {
		t.Fatal("trusted the agent without the CA")
	}
	// The CA from a directory of CA certificates.
	caDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(caDir, "ca.pem"), ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	wantValue(get(nil, "-http-addr=https://"+a.addr, "-ca-path="+caDir, "-client-cert="+certFile, "-client-key="+keyFile))

	// -tls-server-name: the certificate is for server.dc1.consul, not
	// for other.example.
	wantValue(get(nil, append(tlsFlags, "-tls-server-name=server.dc1.consul")...))
	if r := get(nil, append(tlsFlags, "-tls-server-name=other.example")...); r.code == 0 {
		t.Fatal("accepted a certificate for another name")
	}
}

func TestTLSEnvironment(t *testing.T) {
	ca := testcerts.NewCA(t)
	a := newTLSAgent(t, ca)
	caFile, certFile, keyFile := ca.WriteFiles(t, "cli.dc1.consul")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(extra ...string) map[string]string {
		m := map[string]string{
			"CONSUL_HTTP_ADDR":   "https://" + a.addr,
			"CONSUL_CACERT":      caFile,
			"CONSUL_CLIENT_CERT": certFile,
			"CONSUL_CLIENT_KEY":  keyFile,
		}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	get := func(env map[string]string, flags ...string) result {
		return runCLI(t, env, "", append(append([]string{"kv", "get"}, flags...), "app/config")...)
	}
	wantValue := func(r result) {
		t.Helper()
		wantOK(t, r)
		if strings.TrimSpace(r.stdout) != "over tls" {
			t.Fatalf("kv get printed %q", r.stdout)
		}
	}

	wantValue(get(env("CONSUL_HTTP_TOKEN", "env-token")))
	if a.lastToken() != "env-token" {
		t.Fatalf("token sent %q", a.lastToken())
	}
	// CONSUL_HTTP_SSL with a bare host:port; the token file wins over the
	// token.
	wantValue(get(env("CONSUL_HTTP_ADDR", a.addr, "CONSUL_HTTP_SSL", "true",
		"CONSUL_HTTP_TOKEN", "env-token", "CONSUL_HTTP_TOKEN_FILE", tokenFile)))
	if a.lastToken() != "file-token" {
		t.Fatalf("token sent %q, want the file's", a.lastToken())
	}
	// Flags win over the environment.
	wantValue(get(env("CONSUL_CACERT", "/nonexistent/ca.pem", "CONSUL_HTTP_TOKEN_FILE", tokenFile), "-ca-file="+caFile, "-token=flag-token"))
	if a.lastToken() != "flag-token" {
		t.Fatalf("token sent %q, want the flag's", a.lastToken())
	}
	// CONSUL_HTTP_SSL_VERIFY=false: no CA needed.
	wantValue(get(env("CONSUL_CACERT", "", "CONSUL_HTTP_SSL_VERIFY", "false")))
	if r := get(env("CONSUL_CACERT", "")); r.code == 0 {
		t.Fatal("trusted the agent without the CA")
	}
	if r := get(env("CONSUL_HTTP_SSL_VERIFY", "maybe")); r.code == 0 || !strings.Contains(r.stderr, "CONSUL_HTTP_SSL_VERIFY") {
		t.Fatalf("bad CONSUL_HTTP_SSL_VERIFY: %+v", r)
	}
	// CONSUL_TLS_SERVER_NAME.
	if r := get(env("CONSUL_TLS_SERVER_NAME", "other.example")); r.code == 0 {
		t.Fatal("accepted a certificate for another name")
	}
	// Without the client certificate the agent refuses.
	if r := get(env("CONSUL_CLIENT_CERT", "", "CONSUL_CLIENT_KEY", "")); r.code == 0 {
		t.Fatal("served without a client certificate")
	}
	// members, another command, over the same settings.
	a.json("/v1/agent/members", []map[string]any{{"Name": "n1", "Addr": "127.0.0.1", "Port": 8301, "Status": 1, "Tags": map[string]string{"dc": "dc1", "role": "node"}}})
	r := runCLI(t, env(), "", "members")
	wantOK(t, r)
	if !strings.Contains(r.stdout, "n1") {
		t.Fatalf("members printed %q", r.stdout)
	}
}
