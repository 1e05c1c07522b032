package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/chaos/netfault"
	"consulate/internal/testutil"
)

// viewsServed is the client's consul.agent.views.served gauge: how many
// of its live views answer reads now.
func viewsServed(c *api.Client) (float64, error) {
	m, err := c.Agent().Metrics()
	if err != nil {
		return 0, err
	}
	for _, g := range m.Gauges {
		if g.Name == "consul.agent.views.served" {
			return float64(g.Value), nil
		}
	}
	return 0, fmt.Errorf("no views.served gauge in %d gauges", len(m.Gauges))
}

// TestViewStopsWhenClientCutOff cuts a client agent off from its only
// server (packets dropped, no connection broken) and checks that its live
// view of a service stops answering within the views' StaleAfter (the
// server's heartbeats stop reaching it) instead of serving a dead stream
// until the connection times out; after the heal the view serves again.
func TestViewStopsWhenClientCutOff(t *testing.T) {
	netfault.Require(t)
	const serverIP, clientIP = "127.0.8.41", "127.0.8.44"
	srv := startAgent(t, "lv-s1", serverIP, "-server", "-bootstrap-expect", "1")
	srv.waitHTTP(15 * time.Second)
	srv.waitLeader(15 * time.Second)
	client := startAgent(t, "lv-c1", clientIP, "-join", serverIP)
	client.waitHTTP(15 * time.Second)
	if err := srv.client().Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Port: 80}); err != nil {
		t.Fatal(err)
	}
	cc := client.client()
	hc := &http.Client{Timeout: 10 * time.Second}
	read := func(ctx context.Context) (bool, string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+client.httpAddr()+"/v1/health/service/web", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	}
	testutil.WaitForErr(t, 20*time.Second, "the client serves web from a view", func() error {
		if ok, detail := read(context.Background()); !ok {
			return fmt.Errorf("read: %s", detail)
		}
		if n, err := viewsServed(cc); err != nil || n != 1 {
			return fmt.Errorf("views served %v, %v", n, err)
		}
		return nil
	})

	nf, err := netfault.New("viewlive")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nf.Close() })
	if err := nf.Partition([]string{clientIP}, []string{serverIP}); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	// The view may answer until its stream has been silent for StaleAfter
	// (1.5 s); after that no read may be answered from it. 3 s leaves
	// room for a loaded machine.
	const bound = 3 * time.Second
	var lastOK time.Duration
	firstFail := ""
	for n := 0; n < 1000 && time.Since(cut) < bound+2*time.Second; n++ {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ok, detail := read(ctx)
		cancel()
		if ok {
			lastOK = start.Sub(cut)
		} else if firstFail == "" {
			firstFail = fmt.Sprintf("+%v (took %v): %s", start.Sub(cut).Round(time.Millisecond),
				time.Since(start).Round(time.Millisecond), detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("last read answered %v after the cut; first failure %s", lastOK.Round(time.Millisecond), firstFail)
	if lastOK > bound {
		t.Fatalf("a read was answered %v after the client was cut off (bound %v): the view served a dead stream", lastOK, bound)
	}
	if n, err := viewsServed(cc); err != nil || n != 0 {
		t.Fatalf("views served during the cut: %v, %v", n, err)
	}

	if err := nf.Heal(); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	testutil.WaitForErr(t, 30*time.Second, "the view serves again after the heal", func() error {
		if ok, detail := read(context.Background()); !ok {
			return fmt.Errorf("read: %s", detail)
		}
		if n, err := viewsServed(cc); err != nil || n != 1 {
			return fmt.Errorf("views served %v, %v", n, err)
		}
		return nil
	})
	t.Logf("view served again %v after the heal", time.Since(healed).Round(time.Millisecond))
}
