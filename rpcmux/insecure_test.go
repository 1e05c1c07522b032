package rpcmux

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"consulate/structs"
)

// insecureServerConfig serves tp with RequireTLS, and over RPCTLSInsecure
// without asking for a client certificate, allowing only Test.Echo.
func insecureServerConfig(tp tlsPair) Config {
	cfg := tlsServerConfig(tp, true)
	cfg.InsecureTLS = func() *tls.Config {
		c := tp.server.Clone()
		c.ClientAuth = tls.NoClientCert
		return c
	}
	cfg.InsecureAllowed = func(m structs.Method) bool { return m == "Test.Echo" }
	return cfg
}

// Over the TLS-without-client-certificate byte only the allowed methods
// are served; the others get a permission error; the normal TLS byte
// still requires the certificate.
func TestTLSInsecureServesOnlyAllowedMethods(t *testing.T) {
	tp := newTLSPair(t)
	srv, logs := startLoggedServer(t, insecureServerConfig(tp), "127.0.0.87:0")
	noCert := tp.client.Clone()
	noCert.Certificates = nil
	ctx := ctxTimeout(t, 5*time.Second)

	var out echoArgs
	if err := CallInsecure(ctx, string(srv.addr), noCert, nil, "Test.Echo", &echoArgs{S: "hi"}, &out); err != nil || out.S != "hi" {
		t.Fatalf("allowed method: %+v %v", out, err)
	}
	err := CallInsecure(ctx, string(srv.addr), noCert, nil, "Test.Error", &errArgs{}, &struct{}{})
	if !errors.Is(err, structs.ErrPermissionDenied) {
		t.Fatalf("disallowed method: %v, want ErrPermissionDenied", err)
	}
	if logs.lineWith("method not allowed") == "" {
		t.Fatalf("no log line; log:\n%s", logs)
	}
	// The normal TLS byte without a certificate is refused.
	if err := rawTLSCall(t, srv.addr, noCert); err == nil {
		t.Fatal("RPCTLS without a client certificate was served")
	}
	// The client must verify the server: a wrong name fails.
	wrong := noCert.Clone()
	wrong.ServerName = "server.dc2.consul"
	if err := CallInsecure(ctx, string(srv.addr), wrong, nil, "Test.Echo", &echoArgs{}, &out); !errors.Is(err, structs.ErrUnreachable) {
		t.Fatalf("unverified server: %v", err)
	}
}

// Inside RPCTLSInsecure only plain RPC is accepted: a multiplex or Raft
// byte closes the connection.
func TestTLSInsecureOnlyPlainInside(t *testing.T) {
	tp := newTLSPair(t)
	srv, logs := startLoggedServer(t, insecureServerConfig(tp), "127.0.0.87:0")
	noCert := tp.client.Clone()
	noCert.Certificates = nil
	for _, inner := range []RPCType{RPCRaft, RPCMultiplex} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", string(srv.addr))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := clientTLSWith(ctx, raw, noCert, string(srv.addr), RPCTLSInsecure, inner)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Fatalf("%s inside RPCTLSInsecure was served", inner)
		}
		conn.Close()
		cancel()
	}
	if logs.lineWith("only plain RPC") == "" {
		t.Fatalf("no log line; log:\n%s", logs)
	}
}

// Without InsecureTLS the byte is refused.
func TestTLSInsecureRefusedWithoutConfig(t *testing.T) {
	tp := newTLSPair(t)
	srv, _ := startLoggedServer(t, tlsServerConfig(tp, false), "127.0.0.87:0")
	noCert := tp.client.Clone()
	noCert.Certificates = nil
	var out echoArgs
	if err := CallInsecure(ctxTimeout(t, 5*time.Second), string(srv.addr), noCert, nil, "Test.Echo", &echoArgs{}, &out); err == nil {
		t.Fatal("RPCTLSInsecure served without InsecureTLS")
	}
}
