package checks

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"consulate/internal/testcerts"
	"consulate/structs"
)

// Test peers listen on this helper's loopback range.
const kindsHost = "127.0.16.21"

func TestUDPCheck(t *testing.T) {
	pc, err := net.ListenPacket("udp", kindsHost+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := make(chan string, 16)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case got <- string(buf[:n]):
			default:
			}
		}
	}()
	// A listener that answers nothing: the read times out, which Consul
	// counts as passing.
	rec := start(t, &structs.CheckType{UDP: pc.LocalAddr().String(), Interval: 300 * time.Millisecond, Timeout: 100 * time.Millisecond}, Options{})
	res := rec.waitStatus(t, structs.HealthPassing)
	if !strings.Contains(res.output, "UDP connect") || !strings.Contains(res.output, "Success") {
		t.Fatalf("output %q", res.output)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no datagram reached the listener")
	}

	// A closed port answers ICMP port unreachable: connection refused,
	// critical.
	closed, err := net.ListenPacket("udp", kindsHost+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.LocalAddr().String()
	closed.Close()
	rec = start(t, &structs.CheckType{UDP: addr, Interval: 300 * time.Millisecond, Timeout: 200 * time.Millisecond}, Options{})
	res = rec.waitStatus(t, structs.HealthCritical)
	if !strings.Contains(res.output, "refused") {
		t.Fatalf("output %q, want connection refused", res.output)
	}
}

// serveH2 serves HTTP/2 on a loopback listener, over TLS when cfg is set,
// else h2c with prior knowledge.
func serveH2(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", kindsHost+":0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	if cfg != nil {
		srv.TLSConfig = cfg
		var p http.Protocols
		p.SetHTTP2(true)
		srv.Protocols = &p
		go srv.ServeTLS(ln, "", "")
	} else {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		srv.Protocols = &p
		go srv.Serve(ln)
	}
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestH2PingCheck(t *testing.T) {
	ca := testcerts.NewCA(t)
	cert := ca.Leaf(t, "web.service.consul", "web.service.consul")
	tlsAddr := serveH2(t, ca.ServerConfig(cert, false))
	h2cAddr := serveH2(t, nil)
	iv := 200 * time.Millisecond

	rec := start(t, &structs.CheckType{H2PING: tlsAddr, H2PingUseTLS: true, TLSSkipVerify: true, Interval: iv}, Options{})
	if res := rec.waitStatus(t, structs.HealthPassing); res.output != "HTTP2 ping was successful" {
		t.Fatalf("output %q", res.output)
	}
	// Without skip-verify the test CA is unknown: critical.
	rec = start(t, &structs.CheckType{H2PING: tlsAddr, H2PingUseTLS: true, TLSServerName: "web.service.consul", Interval: iv}, Options{})
	if res := rec.waitStatus(t, structs.HealthCritical); !strings.Contains(res.output, "HTTP2 ping failed") {
		t.Fatalf("output %q", res.output)
	}
	rec = start(t, &structs.CheckType{H2PING: h2cAddr, Interval: iv}, Options{})
	rec.waitStatus(t, structs.HealthPassing)
	// h2c against the TLS server fails.
	rec = start(t, &structs.CheckType{H2PING: tlsAddr, Interval: iv, Timeout: 100 * time.Millisecond}, Options{})
	rec.waitStatus(t, structs.HealthCritical)
}

func TestGRPCCheck(t *testing.T) {
	ca := testcerts.NewCA(t)
	cert := ca.Leaf(t, "grpc.service.consul", "grpc.service.consul")
	hs := health.NewServer()
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_SERVING)
	serve := func(opts ...grpc.ServerOption) string {
		ln, err := net.Listen("tcp", kindsHost+":0")
		if err != nil {
			t.Fatal(err)
		}
		s := grpc.NewServer(opts...)
		healthpb.RegisterHealthServer(s, hs)
		go s.Serve(ln)
		t.Cleanup(s.Stop)
		return ln.Addr().String()
	}
	plain := serve()
	secure := serve(grpc.Creds(credentials.NewTLS(ca.ServerConfig(cert, false))))
	iv := 200 * time.Millisecond

	rec := start(t, &structs.CheckType{GRPC: plain + "/db", Interval: iv}, Options{})
	if res := rec.waitStatus(t, structs.HealthPassing); res.output != "gRPC check "+plain+"/db: success" {
		t.Fatalf("output %q", res.output)
	}
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	if res := rec.waitStatus(t, structs.HealthCritical); !strings.Contains(res.output, "NOT_SERVING") {
		t.Fatalf("output %q", res.output)
	}
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_SERVING)
	rec.waitStatus(t, structs.HealthPassing)

	// No service: the server as a whole ("" is SERVING by default).
	rec = start(t, &structs.CheckType{GRPC: plain, Interval: iv}, Options{})
	rec.waitStatus(t, structs.HealthPassing)
	// An unknown service is critical.
	rec = start(t, &structs.CheckType{GRPC: plain + "/nope", Interval: iv}, Options{})
	rec.waitStatus(t, structs.HealthCritical)
	// TLS.
	rec = start(t, &structs.CheckType{GRPC: secure + "/db", GRPCUseTLS: true, TLSSkipVerify: true, Interval: iv}, Options{})
	rec.waitStatus(t, structs.HealthPassing)
	rec = start(t, &structs.CheckType{GRPC: secure + "/db", Interval: iv, Timeout: 150 * time.Millisecond}, Options{})
	rec.waitStatus(t, structs.HealthCritical)
}

func TestOSServiceCheck(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("fake systemctl is a shell script")
	}
	// A fake systemctl: "web" is active, anything else inactive (exit 3,
	// as systemctl).
	dir := t.TempDir()
	script := "#!/bin/sh\nif [ \"$1\" = is-active ] && [ \"$2\" = -- ] && [ \"$3\" = web ]; then echo active; exit 0; fi\necho inactive; exit 3\n"
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	iv := 200 * time.Millisecond
	rec := start(t, &structs.CheckType{OSService: "web", Interval: iv}, Options{})
	rec.waitStatus(t, structs.HealthPassing)
	rec = start(t, &structs.CheckType{OSService: "db", Interval: iv}, Options{})
	if res := rec.waitStatus(t, structs.HealthCritical); !strings.Contains(res.output, "inactive") {
		t.Fatalf("output %q", res.output)
	}
	if _, err := NewRunner("x", &structs.CheckType{OSService: "--all", Interval: iv}, &recorder{}, nil, Options{}); err == nil {
		t.Fatal("an option as a service name was accepted")
	}
}

func TestDockerCheckCritical(t *testing.T) {
	rec := start(t, &structs.CheckType{DockerContainerID: "abc", Args: []string{"true"}, Interval: time.Second}, Options{EnableScriptChecks: true})
	if res := rec.waitStatus(t, structs.HealthCritical); !strings.Contains(res.output, "does not run Docker") {
		t.Fatalf("output %q", res.output)
	}
}

// TestDockerCheckIsAScriptCheck: as in Consul, a Docker check is a script
// check: refused with script checks off, and it needs args or script.
func TestDockerCheckIsAScriptCheck(t *testing.T) {
	_, err := NewRunner("d", &structs.CheckType{DockerContainerID: "abc", Args: []string{"true"}, Interval: time.Second}, &recorder{}, nil, Options{})
	if !errors.Is(err, ErrScriptChecksDisabled) {
		t.Fatalf("script checks off: %v", err)
	}
	_, err = NewRunner("d", &structs.CheckType{DockerContainerID: "abc", Interval: time.Second}, &recorder{}, nil, Options{EnableScriptChecks: true})
	if !errors.Is(err, ErrInvalidCheck) {
		t.Fatalf("no args or script: %v", err)
	}
}
