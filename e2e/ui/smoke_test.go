package ui

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// A deep link to the services page, opened cold on the client agent,
// loads the UI's shell.
func TestSmokeDeepLink(t *testing.T) {
	skipWithoutChromium(t)
	c := startCluster(t, smokeIPs)
	ctx := newBrowser(t)
	navigate(t, ctx, c.UI("/ui/dc1/services"))
	// main#main is the shell of the UI (issue 14); the earlier page has a
	// bare main, so either passes.
	waitReady(t, ctx, "main#main, main", 15*time.Second)
	path := screenshot(t, ctx, "smoke-services")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("%s is not a PNG", path)
	}
}
