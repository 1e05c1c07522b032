package e2e

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// TestKeyRotationUnderTraffic rotates the gossip key of a running two-DC
// federation (install → use → remove through one server) while a client
// keeps writing and reading across datacenters: no request fails, no
// member is suspected or failed, and every pool ends with only the new
// key, which is also what each agent saved in its data dir.
func TestKeyRotationUnderTraffic(t *testing.T) {
	const oldKey = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
	const newKey = "HS5lJ+XuTlYKWaeGYyG+/A6VbjrfYvaxfMZ8fR6pcBk="
	enc := []string{"-encrypt", oldKey}
	dc1 := startDC(t, "dc1", []string{"127.0.0.161", "127.0.0.162", "127.0.0.163"}, enc...)
	dc2 := startDC(t, "dc2", []string{"127.0.0.171"}, enc...)
	client := startAgent(t, "kr-c1", "127.0.0.164", append([]string{"-datacenter", "dc1", "-join", "127.0.0.161"}, enc...)...)
	client.waitHTTP(15 * time.Second)
	if out, err := cli(t, "join", "-wan", "--http-addr", dc1[0].httpAddr(), "127.0.0.171"); err != nil {
		t.Fatalf("join -wan: %v\n%s", err, out)
	}
	if err := dc2[0].client().Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Port: 80}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 20*time.Second, "federation and four LAN members", func() error {
		svcs, _, err := client.client().Catalog().Service("web", "", &api.QueryOptions{Datacenter: "dc2"})
		if err != nil || len(svcs) != 1 {
			return fmt.Errorf("cross-DC read: %d %v", len(svcs), err)
		}
		ms, err := client.client().Agent().Members(false)
		if err != nil || len(ms) != 4 {
			return fmt.Errorf("members: %d %v", len(ms), err)
		}
		return nil
	})

	// Traffic through the client for the whole rotation.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := client.client()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			_, err := c.KV().Put(&api.KVPair{Key: fmt.Sprintf("kr/%d", i), Value: []byte("v")}, nil)
			if err == nil {
				_, _, err = c.Catalog().Service("web", "", &api.QueryOptions{Datacenter: "dc2"})
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			} else {
				ok.Add(1)
			}
		}
	}()

	srv := dc1[0].httpAddr()
	for _, step := range [][]string{{"-install", newKey}, {"-use", newKey}, {"-remove", oldKey}} {
		out, err := cli(t, append([]string{"keyring", "--http-addr", srv}, step...)...)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("keyring %s: %v\n%s", step[0], err, out)
		}
		time.Sleep(500 * time.Millisecond) // traffic on each step
	}
	out, err := cli(t, "keyring", "-list", "--http-addr", srv)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("keyring -list: %v\n%s", err, out)
	}
	// Every pool holds the new key on all of its members, and only it:
	// WAN (4 servers), dc1 LAN (4 members), dc2 LAN (1).
	for _, want := range []string{newKey + " [4/4]", newKey + " [1/1]"} {
		if !strings.Contains(out, want) {
			t.Errorf("keyring -list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, oldKey) {
		t.Errorf("the old key is still installed:\n%s", out)
	}
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed during the rotation; first: %v", n, n+ok.Load(), firstErr.Load())
	}
	if ok.Load() == 0 {
		t.Error("no request ran during the rotation")
	}
	for _, a := range append(append([]*agentProc{client}, dc1...), dc2...) {
		log := a.log.String()
		if n := strings.Count(log, "Suspect") + strings.Count(log, "member failed"); n > 0 {
			t.Errorf("%s logged %d suspicions or failures during the rotation", a.name, n)
		}
	}
	// A member joining later with only the new key gets in.
	late := startAgent(t, "kr-c2", "127.0.0.165", "-datacenter", "dc1", "-join", "127.0.0.161", "-encrypt", newKey)
	late.waitHTTP(15 * time.Second)
	testutil.WaitForErr(t, 15*time.Second, "five LAN members", func() error {
		ms, err := late.client().Agent().Members(false)
		if err != nil || len(ms) != 5 {
			return fmt.Errorf("%d %v", len(ms), err)
		}
		return nil
	})
}
