package rpcmux

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"consulate/internal/testutil"
	"consulate/structs"

	"consulate/internal/testcerts"
)

// tlsPair is a CA with one certificate, and the server and client
// configs built on them.
type tlsPair struct {
	ca     *testcerts.CA
	server *tls.Config
	client *tls.Config
}

func newTLSPair(t testing.TB) tlsPair {
	ca := testcerts.NewCA(t)
	cert := ca.Leaf(t, "server.dc1.consul")
	return tlsPair{ca: ca, server: ca.ServerConfig(cert, true), client: ca.ClientConfig(cert)}
}

// tlsServerConfig is testConfig serving tp, refusing plaintext when
// require is set.
func tlsServerConfig(tp tlsPair, require bool) Config {
	cfg := testConfig()
	cfg.TLS = func() *tls.Config { return tp.server }
	cfg.RequireTLS = func() bool { return require }
	cfg.RaftDialTLS = func() (*tls.Config, error) { return tp.client, nil }
	return cfg
}

// tlsPoolConfig dials every datacenter with c.
func tlsPoolConfig(c *tls.Config) PoolConfig {
	cfg := testPoolConfig()
	cfg.TLS = func(structs.Datacenter) (*tls.Config, error) { return c, nil }
	return cfg
}

// rawTLSCall dials addr, opens TLS with c, announces inner and, for
// RPCPlain, runs one Test.Echo call on the connection.
func rawTLSCall(t *testing.T, addr structs.ServerAddr, c *tls.Config) error {
	t.Helper()
	ctx := ctxTimeout(t, 5*time.Second)
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", string(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc, err := clientTLS(ctx, conn, c, string(addr), RPCPlain)
	if err != nil {
		return err
	}
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	codec := newWireCodec(DefaultMaxMessageSize)
	if err := codec.writeFrame(tc, &requestHeader{Method: "Test.Echo", Seq: 1}, &echoArgs{S: "over tls"}); err != nil {
		return err
	}
	payload, err := codec.readFrame(tc)
	if err != nil {
		return err
	}
	dec := codec.decoder(payload)
	defer dec.release()
	var rh responseHeader
	var out echoArgs
	if err := dec.decode(&rh); err != nil {
		return err
	}
	if rh.Error != nil {
		return fromRemote(rh.Error)
	}
	if err := dec.decode(&out); err != nil {
		return err
	}
	if out.S != "over tls" || rh.Seq != 1 {
		t.Fatalf("reply %+v seq %d", out, rh.Seq)
	}
	return nil
}

// A plain RPC connection inside TLS serves calls as plaintext does.
func TestTLSPlainRPCRoundTrip(t *testing.T) {
	tp := newTLSPair(t)
	srv, _ := startLoggedServer(t, tlsServerConfig(tp, true), "127.0.0.80:0")
	if err := rawTLSCall(t, srv.addr, tp.client); err != nil {
		t.Fatalf("plain RPC over TLS: %v", err)
	}
}

// The pool's multiplexed sessions run over TLS: many calls, one
// connection, and the datacenter of the target reaches PoolConfig.TLS.
func TestTLSPooledMultiplex(t *testing.T) {
	tp := newTLSPair(t)
	srv, _ := startLoggedServer(t, tlsServerConfig(tp, true), "127.0.0.80:0")
	var mu sync.Mutex
	var dcs []structs.Datacenter
	pcfg := testPoolConfig()
	pcfg.TLS = func(dc structs.Datacenter) (*tls.Config, error) {
		mu.Lock()
		dcs = append(dcs, dc)
		mu.Unlock()
		return tp.client, nil
	}
	p := newTestPool(t, pcfg)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			in := echoArgs{S: strings.Repeat("x", i)}
			var out echoArgs
			err := p.Call(ctxTimeout(t, 5*time.Second), "dc2", srv.addr, "Test.Echo", &in, &out)
			if err == nil && out.S != in.S {
				err = errors.New("echo mismatch")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("call over TLS: %v", err)
		}
	}
	if _, err := p.Ping(ctxTimeout(t, 5*time.Second), "dc2", srv.addr); err != nil {
		t.Fatalf("ping over TLS: %v", err)
	}
	if got := srv.ln.accepted.Load(); got != 1 {
		t.Fatalf("accepted %d connections, want 1 pooled session", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dcs) != 1 || dcs[0] != "dc2" {
		t.Fatalf("PoolConfig.TLS called with %v, want [dc2]", dcs)
	}
}

// Raft's NetworkTransport works over TLS, both ends refusing plaintext.
func TestTLSRaftNetworkTransport(t *testing.T) {
	tp := newTLSPair(t)
	srv1, _ := startLoggedServer(t, tlsServerConfig(tp, true), "127.0.0.81:0")
	srv2, logs2 := startLoggedServer(t, tlsServerConfig(tp, true), "127.0.0.82:0")
	testutil.WaitFor(t, 5*time.Second, "listeners registered", func() bool {
		return srv1.mux.RaftLayer().Addr().String() == string(srv1.addr) && srv2.mux.RaftLayer().Addr().String() == string(srv2.addr)
	})
	trans1 := raft.NewNetworkTransport(srv1.mux.RaftLayer(), 2, 2*time.Second, io.Discard)
	defer trans1.Close()
	trans2 := raft.NewNetworkTransport(srv2.mux.RaftLayer(), 2, 2*time.Second, io.Discard)
	defer trans2.Close()

	served := make(chan *raft.RequestVoteRequest, 1)
	go func() {
		select {
		case rpc := <-trans2.Consumer():
			req, _ := rpc.Command.(*raft.RequestVoteRequest)
			served <- req
			rpc.Respond(&raft.RequestVoteResponse{Term: 3, Granted: true}, nil)
		case <-time.After(5 * time.Second):
			served <- nil
		}
	}()
	req := raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, Addr: []byte(srv1.addr)}, Term: 3}
	var resp raft.RequestVoteResponse
	if err := trans1.RequestVote("srv2", raft.ServerAddress(srv2.addr), &req, &resp); err != nil {
		t.Fatalf("RequestVote over TLS: %v (server log: %s)", err, logs2)
	}
	if got := <-served; got == nil || got.Term != 3 {
		t.Fatalf("server got %+v", got)
	}
	if !resp.Granted || resp.Term != 3 {
		t.Fatalf("resp = %+v", resp)
	}
}

// With RequireTLS, plaintext RPC, Raft and multiplex are all refused and
// the log says why and who.
func TestRequireTLSRefusesPlaintext(t *testing.T) {
	tp := newTLSPair(t)
	srv, logs := startLoggedServer(t, tlsServerConfig(tp, true), "127.0.0.83:0")

	pcfg := testPoolConfig()
	pcfg.SourceAddr = net.IPv4(127, 0, 0, 84)
	p := newTestPool(t, pcfg)
	if err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err == nil {
		t.Fatal("plaintext multiplex call succeeded against RequireTLS")
	}
	for _, b := range []RPCType{RPCPlain, RPCRaft} {
		conn, err := net.DialTimeout("tcp", string(srv.addr), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte{byte(b)}); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("%v: plaintext connection not closed: %v", b, err)
		}
		conn.Close()
	}
	testutil.WaitFor(t, 5*time.Second, "three plaintext refusals counted", func() bool {
		return srv.mux.Stats().PlainRefused >= 3
	})
	if line := logs.lineWith("non-TLS connection attempted with verify_incoming enabled", "127.0.0.84:"); line == "" {
		t.Fatalf("no refusal line naming the remote; log:\n%s", logs)
	}
}

// A client certificate from another CA, or none, is refused with a log
// line naming the remote and the TLS error; a client that does not trust
// the server's CA fails its handshake.
func TestTLSWrongCARefused(t *testing.T) {
	tp := newTLSPair(t)
	srv, logs := startLoggedServer(t, tlsServerConfig(tp, true), "127.0.0.85:0")
	other := testcerts.NewCA(t)
	otherCert := other.Leaf(t, "server.dc1.consul")

	// Trusts the server, presents a certificate the server does not.
	badClient := tp.ca.ClientConfig(otherCert)
	if err := rawTLSCall(t, srv.addr, badClient); err == nil {
		t.Fatal("call with a client certificate from another CA succeeded")
	}
	testutil.WaitFor(t, 5*time.Second, "handshake failure logged", func() bool {
		return logs.lineWith("TLS handshake failed", "127.0.0.1:", "certificate") != ""
	})

	// Presents nothing.
	noCert := tp.ca.ClientConfig(tls.Certificate{})
	noCert.Certificates = nil
	p := newTestPool(t, tlsPoolConfig(noCert))
	if err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err == nil {
		t.Fatal("call without a client certificate succeeded")
	}

	// Does not trust the server's CA: the client refuses.
	distrust := other.ClientConfig(otherCert)
	p2 := newTestPool(t, tlsPoolConfig(distrust))
	err := p2.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil)
	var unknown x509.UnknownAuthorityError
	if !errors.Is(err, structs.ErrUnreachable) || !errors.As(err, &unknown) {
		t.Fatalf("call to a server of an untrusted CA: %v, want ErrUnreachable with an unknown authority", err)
	}
	testutil.WaitFor(t, 5*time.Second, "failures counted", func() bool {
		return srv.mux.Stats().TLSHandshakeFailures >= 2
	})
}

// Mixed mode: TLS configured, plaintext still accepted.
func TestTLSMixedModeAcceptsBoth(t *testing.T) {
	tp := newTLSPair(t)
	srv, _ := startLoggedServer(t, tlsServerConfig(tp, false), "127.0.0.86:0")
	plain := newTestPool(t, testPoolConfig())
	secure := newTestPool(t, tlsPoolConfig(tp.client))
	for name, p := range map[string]*Pool{"plaintext": plain, "tls": secure} {
		if err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
			t.Fatalf("%s call in mixed mode: %v", name, err)
		}
	}
	if err := rawTLSCall(t, srv.addr, tp.client); err != nil {
		t.Fatalf("plain RPC over TLS in mixed mode: %v", err)
	}
}

// verify_outgoing: when PoolConfig.TLS fails, the call fails as
// unreachable and nothing is dialed in plaintext.
func TestTLSConfigErrorNeverFallsBackToPlaintext(t *testing.T) {
	srv, _ := startLoggedServer(t, testConfig(), "127.0.0.87:0")
	pcfg := testPoolConfig()
	pcfg.TLS = func(dc structs.Datacenter) (*tls.Config, error) {
		return nil, errors.New("no certificate for " + string(dc))
	}
	p := newTestPool(t, pcfg)
	err := p.Call(ctxTimeout(t, 5*time.Second), "dc3", srv.addr, "Test.Echo", &echoArgs{}, nil)
	if !errors.Is(err, structs.ErrUnreachable) || !strings.Contains(err.Error(), "no certificate for dc3") {
		t.Fatalf("call = %v, want ErrUnreachable naming the TLS error", err)
	}
	if _, err := p.Ping(ctxTimeout(t, 5*time.Second), "dc3", srv.addr); err == nil {
		t.Fatal("ping succeeded without a TLS config")
	}
	if got := srv.ln.accepted.Load(); got != 0 {
		t.Fatalf("server accepted %d connections; nothing should be dialed", got)
	}

	// The Raft layer too.
	cfg := testConfig()
	cfg.RaftDialTLS = func() (*tls.Config, error) { return nil, errors.New("broken tls") }
	m := newPipeMux(t, cfg, newTestHandler())
	if _, err := m.RaftLayer().Dial(raft.ServerAddress(srv.addr), time.Second); err == nil || !strings.Contains(err.Error(), "broken tls") {
		t.Fatalf("raft dial = %v, want the TLS error", err)
	}
	if got := srv.ln.accepted.Load(); got != 0 {
		t.Fatalf("server accepted %d connections after a failed Raft TLS config", got)
	}
}

// A client that sends the TLS byte and stalls, or finishes the handshake
// and sends no inner byte, is cut off at HandshakeTimeout.
func TestTLSHandshakeTimeout(t *testing.T) {
	tp := newTLSPair(t)
	cfg := tlsServerConfig(tp, true)
	cfg.HandshakeTimeout = 300 * time.Millisecond
	srv, logs := startLoggedServer(t, cfg, "127.0.0.89:0")

	conn, err := net.DialTimeout("tcp", string(srv.addr), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte{byte(RPCTLS)}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := io.ReadAll(conn); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("stalled TLS client: %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("stalled TLS client held on for %v", el)
	}

	// Handshake done, inner byte never sent.
	conn2, err := net.DialTimeout("tcp", string(srv.addr), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if _, err := conn2.Write([]byte{byte(RPCTLS)}); err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(conn2, tp.client)
	if err := tc.HandshakeContext(ctxTimeout(t, 2*time.Second)); err != nil {
		t.Fatal(err)
	}
	_ = tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := tc.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("TLS client without an inner byte not closed: %v", err)
	}
	testutil.WaitFor(t, 5*time.Second, "two handshake timeouts counted", func() bool {
		return srv.mux.Stats().HandshakeTimeouts == 2
	})
	if logs.lineWith("did not finish its handshake", "TLS handshake") == "" {
		t.Fatalf("no timeout line for the TLS handshake; log:\n%s", logs)
	}
}

// Without a TLS config the TLS byte is refused, as before.
func TestTLSByteRefusedWithoutConfig(t *testing.T) {
	tp := newTLSPair(t)
	cfg := testConfig()
	cfg.TLS = func() *tls.Config { return nil }
	srv, logs := startLoggedServer(t, cfg, "127.0.0.89:0")
	p := newTestPool(t, tlsPoolConfig(tp.client))
	if err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); !errors.Is(err, structs.ErrUnreachable) {
		t.Fatalf("TLS call to a server without TLS: %v, want ErrUnreachable", err)
	}
	if logs.lineWith("TLS is not configured") == "" {
		t.Fatalf("no log line; log:\n%s", logs)
	}
}
