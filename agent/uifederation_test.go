package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"consulate/config"
	"consulate/federation"
)

// getUIFederation reads /v1/internal/ui/federation from base with query q.
func getUIFederation(t *testing.T, base, q string) (federation.UIFederation, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/internal/ui/federation"+q, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", q, resp.StatusCode, b)
	}
	var out federation.UIFederation
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	idx, _ := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	return out, idx
}

func dcRow(v federation.UIFederation, dc string) (federation.UIDatacenter, bool) {
	for _, d := range v.Datacenters {
		if d.Datacenter == dc {
			return d, true
		}
	}
	return federation.UIDatacenter{}, false
}

// A dc1 server, a dc1 client agent and a dc2 server: the federation view
// on the server and (through Internal.UIFederation) on the client lists
// both DCs, and a blocking read wakes when the dc2 server leaves (or
// fails: shut down without leaving), with the event in the log.
func TestUIFederationBlocksAndWakes(t *testing.T) {
	t.Run("leave", func(t *testing.T) { testUIFederationWakes(t, "127.0.21.2", true) })
	t.Run("fail", func(t *testing.T) { testUIFederationWakes(t, "127.0.21.3", false) })
}

// testUIFederationWakes runs the cluster on prefix+"1", "2" and "3" (dc1
// server, dc2 server, dc1 client); leave picks how the dc2 server goes.
func testUIFederationWakes(t *testing.T, prefix string, leave bool) {
	const httpPort = 18500
	httpOn := fmt.Sprintf(`, "ports": {"dns": -1, "http": %d, "server": %d, "serf_lan": %d, "serf_wan": %d}`,
		httpPort, testServerPort, testSerfLAN, testSerfWAN)
	startAgent(t, testOpts(t, prefix+"1", httpOn), nil)
	s2 := startAgent(t, testOpts(t, prefix+"2", `, "datacenter": "dc2"`), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s2.Join(ctx, []string{fmt.Sprintf("%s1:%d", prefix, testSerfWAN)}, true); err != nil {
		t.Fatal(err)
	}

	// The client agent, LAN-joined to s1.
	copts := testOpts(t, prefix+"3", httpOn)
	rt, err := config.Load(copts)
	if err != nil {
		t.Fatal(err)
	}
	rt.ServerMode = false
	rt.StartJoinAddrsLAN = []string{fmt.Sprintf("%s1:%d", prefix, testSerfLAN)}
	c, err := New(rt, Options{LoadOpts: copts, Logger: slog.New(slog.DiscardHandler), Version: "1.2.3-test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cc := context.WithTimeout(context.Background(), 5*time.Second)
		defer cc()
		c.Shutdown(sctx)
	})

	server := fmt.Sprintf("http://%s1:%d", prefix, httpPort)
	client := fmt.Sprintf("http://%s3:%d", prefix, httpPort)
	deadline := time.Now().Add(15 * time.Second)
	for {
		v, i := getUIFederation(t, server, "")
		d2, ok := dcRow(v, "dc2")
		if ok && d2.Alive == 1 && d2.HasLeader && i > 0 {
			if _, ok := v.RTT["dc1"]["dc2"]; !ok && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dc2 never healthy: %+v", v)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var cv federation.UIFederation
	deadline = time.Now().Add(15 * time.Second)
	for {
		cv, _ = getUIFederation(t, client, "")
		if d, ok := dcRow(cv, "dc2"); ok && d.Alive == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client view: %+v", cv)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d, _ := dcRow(cv, "dc1"); !d.Local {
		t.Fatalf("client view dc1 not local: %+v", cv)
	}

	// Block on both agents; the dc2 server leaves or fails.
	type answer struct {
		v   federation.UIFederation
		idx uint64
		at  time.Time
	}
	_, sidx := getUIFederation(t, server, "")
	_, cidx := getUIFederation(t, client, "")
	results := make(chan answer, 2)
	for base, i := range map[string]uint64{server: sidx, client: cidx} {
		go func() {
			v, got := getUIFederation(t, base, fmt.Sprintf("?index=%d&wait=25s", i))
			results <- answer{v, got, time.Now()}
		}()
	}
	time.Sleep(300 * time.Millisecond) // let both block (checked below: they answer after the leave)
	left := time.Now()
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	event := "leave"
	if leave {
		if err := s2.Leave(lctx); err != nil {
			t.Fatal(err)
		}
	} else {
		event = "fail"
		if err := s2.Shutdown(lctx); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		select {
		case a := <-results:
			if a.at.Before(left) {
				t.Fatalf("answered before the leave: %+v", a.v)
			}
			if a.at.Sub(left) > 20*time.Second {
				t.Fatalf("woke %v after the leave", a.at.Sub(left))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("a blocking read did not wake on the dc2 %s", event)
		}
	}
	// The event is in the log.
	testWaitEvent(t, server, event, "dc2")
	testWaitEvent(t, client, event, "dc2")
}

func testWaitEvent(t *testing.T, base, event, dc string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := getUIFederation(t, base, "")
		for _, e := range v.Events {
			if e.Event == event && e.Datacenter == dc {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s event for %s in %+v", base, event, dc, v.Events)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
