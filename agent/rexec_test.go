package agent

import (
	"context"
	"log/slog"
	"testing"

	"consulate/config"
)

// TestRemoteExecBuiltBeforeGossip: the executor exists once New returns,
// before Start joins gossip, so a `_rexec` event arriving while the agent
// starts is neither dropped as "disabled" nor read racily.
func TestRemoteExecBuiltBeforeGossip(t *testing.T) {
	opts := testOpts(t, "127.0.13.40", `, "disable_remote_exec": false`)
	rt, err := config.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(rt, Options{LoadOpts: opts, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.shutdownRemoteExec(context.Background())
	if a.rexec == nil {
		t.Fatal("no remote exec executor after New: events delivered during Start would be dropped")
	}
}
