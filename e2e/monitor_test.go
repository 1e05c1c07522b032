package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// TestMonitorAndWatch: `consulate monitor` streams the agent's log lines;
// `consulate watch` prints the current value without a handler and runs
// its handler on every change with one.
func TestMonitorAndWatch(t *testing.T) {
	a := startAgent(t, "mon", "127.0.0.46", "-dev", "-log-level", "debug")
	a.waitHTTP(15 * time.Second)
	a.waitLeader(10 * time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mon := exec.CommandContext(ctx, binary, "monitor", "-http-addr", a.httpAddr(), "-log-level", "debug")
	monOut := &testutil.Buffer{}
	mon.Stdout = monOut
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { mon.Process.Kill(); mon.Wait() }()
	kv := a.client().KV()
	testutil.WaitForErr(t, 10*time.Second, "monitor shows a request", func() error {
		kv.Put(&api.KVPair{Key: "seen-by-monitor", Value: []byte("1")}, nil)
		if !strings.Contains(monOut.String(), "/v1/kv/seen-by-monitor") {
			return errNotYet
		}
		return nil
	})

	if _, err := kv.Put(&api.KVPair{Key: "watched", Value: []byte("first")}, nil); err != nil {
		t.Fatal(err)
	}
	out, err := cli(t, "watch", "-http-addr", a.httpAddr(), "-type", "key", "-key", "watched")
	if err != nil || !strings.Contains(out, `"Key": "watched"`) {
		t.Fatalf("watch without handler: %v\n%s", err, out)
	}
	w := exec.CommandContext(ctx, binary, "watch", "-http-addr", a.httpAddr(), "-type", "key", "-key", "watched",
		"grep -o '\"Value\": \"[^\"]*\"'")
	wOut := &testutil.Buffer{}
	w.Stdout = wOut
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { w.Process.Kill(); w.Wait() }()
	testutil.WaitForErr(t, 5*time.Second, "handler ran for the current value", func() error {
		if !strings.Contains(wOut.String(), `"Value": "Zmlyc3Q="`) { // base64("first")
			return errNotYet
		}
		return nil
	})
	kv.Put(&api.KVPair{Key: "watched", Value: []byte("second")}, nil)
	testutil.WaitForErr(t, 5*time.Second, "handler ran for the change", func() error {
		if !strings.Contains(wOut.String(), `"Value": "c2Vjb25k"`) { // base64("second")
			return errNotYet
		}
		return nil
	})
}
