package agent

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"consulate/internal/testutil"
)

// TestCheckKindsOfficialClient registers a check of each kind Consul runs
// besides HTTP/TCP/TTL/script through the official client and watches
// each reach the status its peer calls for (127.0.16.x).
func TestCheckKindsOfficialClient(t *testing.T) {
	const ip = "127.0.16.31"
	// The Docker check is a script check, as in Consul.
	_, cl := startAPIAgent(t, ip, `, "enable_script_checks": true`, nil)

	// Peers: a silent UDP listener, an h2c server, a gRPC health server,
	// a fake systemctl on PATH.
	pc, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	h2ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	h2srv := &http.Server{Handler: http.NotFoundHandler(), Protocols: &protos, ReadHeaderTimeout: 5 * time.Second}
	go h2srv.Serve(h2ln)
	t.Cleanup(func() { h2srv.Close() })
	gln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	gsrv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("web", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gsrv, hs)
	go gsrv.Serve(gln)
	t.Cleanup(gsrv.Stop)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte("#!/bin/sh\n[ \"$2\" = -- ] && [ \"$3\" = web ] && { echo active; exit 0; }\necho inactive; exit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))

	ag := cl.Agent()
	if err := ag.ServiceRegister(&api.AgentServiceRegistration{
		ID: "db1", Name: "db",
		Check: &api.AgentServiceCheck{CheckID: "db-ttl", TTL: "10m", Status: api.HealthPassing},
	}); err != nil {
		t.Fatal(err)
	}
	if err := ag.ServiceRegister(&api.AgentServiceRegistration{
		ID: "web1", Name: "web",
		Checks: api.AgentServiceChecks{
			{CheckID: "udp", UDP: pc.LocalAddr().String(), Interval: "1s", Timeout: "200ms"},
			{CheckID: "h2c", H2PING: h2ln.Addr().String(), H2PingUseTLS: false, Interval: "1s"},
			{CheckID: "grpc", GRPC: gln.Addr().String() + "/web", Interval: "1s"},
			{CheckID: "docker", DockerContainerID: "f972c95ebf0e", Args: []string{"/bin/true"}, Interval: "10s", Status: api.HealthPassing},
			{CheckID: "alias", AliasService: "db1"},
		},
	}); err != nil {
		t.Fatal(err)
	}
	// The client has no OSService field: that check goes in raw.
	rawRegister := func(body string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPut, fmt.Sprintf("http://%s:%d/v1/agent/check/register", ip, testHTTPPort13), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("register %s: %s", body, resp.Status)
		}
	}
	rawRegister(`{"ID":"os","Name":"os","ServiceID":"web1","OSService":"web","Interval":"1s"}`)
	// H2PingUseTLS false is omitted by the client, so the agent takes
	// Consul's default (TLS) for the h2c server: that check is critical.
	// A separate registration through /v1/agent/check/register cannot
	// say false either; that is the client's shape, not ours.
	want := map[string]string{
		"udp": api.HealthPassing, "h2c": api.HealthCritical, "grpc": api.HealthPassing,
		"os": api.HealthPassing, "docker": api.HealthCritical, "alias": api.HealthPassing,
	}
	waitChecks := func(want map[string]string) map[string]*api.AgentCheck {
		t.Helper()
		var got map[string]*api.AgentCheck
		testutil.WaitForErr(t, 15*time.Second, "check statuses", func() error {
			got, err = ag.Checks()
			if err != nil {
				return err
			}
			for id, st := range want {
				if c := got[id]; c == nil || c.Status != st || c.Output == "" {
					return fmt.Errorf("%s: %+v, want %s", id, c, st)
				}
			}
			return nil
		})
		return got
	}
	got := waitChecks(want)
	for id, typ := range map[string]string{"udp": "udp", "h2c": "h2ping", "grpc": "grpc", "os": "os_service", "docker": "docker", "alias": "alias"} {
		if got[id].Type != typ {
			t.Errorf("%s: Type %q, want %q", id, got[id].Type, typ)
		}
	}
	if got["grpc"].Definition.GRPC != gln.Addr().String()+"/web" || got["udp"].Definition.UDP == "" || got["os"].Definition.OSService != "web" {
		t.Errorf("definitions %+v %+v %+v", got["grpc"].Definition, got["udp"].Definition, got["os"].Definition)
	}

	// The alias follows db's TTL check to critical and back.
	if err := ag.UpdateTTL("db-ttl", "down", api.HealthCritical); err != nil {
		t.Fatal(err)
	}
	waitChecks(map[string]string{"alias": api.HealthCritical})
	if err := ag.UpdateTTL("db-ttl", "up", api.HealthPassing); err != nil {
		t.Fatal(err)
	}
	waitChecks(map[string]string{"alias": api.HealthPassing})

	// gRPC NOT_SERVING turns its check critical.
	hs.SetServingStatus("web", healthpb.HealthCheckResponse_NOT_SERVING)
	waitChecks(map[string]string{"grpc": api.HealthCritical})

	// Checks registered on their own: UDP through the client, h2c through
	// the raw API (which can say H2PingUseTLS false).
	if err := ag.CheckRegister(&api.AgentCheckRegistration{
		ID: "udp-own", Name: "udp", ServiceID: "web1",
		AgentServiceCheck: api.AgentServiceCheck{UDP: pc.LocalAddr().String(), Interval: "1s", Timeout: "100ms"},
	}); err != nil {
		t.Fatal(err)
	}
	waitChecks(map[string]string{"udp-own": api.HealthPassing})
	rawRegister(fmt.Sprintf(`{"ID":"h2c-raw","Name":"h2c","H2PING":%q,"H2PingUseTLS":false,"Interval":"1s"}`, h2ln.Addr().String()))
	waitChecks(map[string]string{"h2c-raw": api.HealthPassing})
}
