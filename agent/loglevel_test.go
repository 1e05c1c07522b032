package agent

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"consulate/config"
	"consulate/internal/testutil"
)

// TestReloadChangesLogLevel: a reload with a new log_level applies it to
// the agent's logger at once, as Consul's SIGHUP does.
func TestReloadChangesLogLevel(t *testing.T) {
	opts := testOpts(t, "127.0.13.41", "")
	rt, err := config.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{b: new(bytes.Buffer)}
	a := runAgent(t, rt, Options{LoadOpts: opts, LogOutput: out, Version: "1.2.3-test"})
	a.logger.Debug("before reload marker")
	path := opts.Sources[0].Path
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), `"log_level": "warn"`, `"log_level": "debug"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	a.logger.Debug("after reload marker")
	testutil.WaitFor(t, 2*time.Second, "debug line after reload", func() bool {
		return strings.Contains(out.String(), "after reload marker")
	})
	if strings.Contains(out.String(), "before reload marker") {
		t.Fatal("debug line logged at level warn")
	}
}
