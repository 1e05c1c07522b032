package ui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// skipWithoutChromium skips the test when chromium is not installed.
func skipWithoutChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser tests need Chromium at %s (Debian package chromium; .ci/run installs it): %v", chromiumPath, err)
	}
}

// newBrowser starts headless Chromium with a fresh profile and returns a
// context for one tab at 1280×800, torn down (the browser killed) when
// the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	skipWithoutChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, so a broken install fails here. The first
	// run's context lives as long as the browser (chromedp's rule), so
	// the bound is a timer that cancels it.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v", chromiumPath, err)
		}
	case <-time.After(30 * time.Second):
		cancelTab()
		cancelAlloc()
		t.Fatalf("%s did not start within 30s", chromiumPath)
	}
	return ctx
}

// run runs actions in the tab, failing the test if they do not finish
// within d.
func run(t *testing.T, ctx context.Context, d time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(cctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action that returns a value, failing the test if it does
// not finish within d.
func get[T any](t *testing.T, ctx context.Context, d time.Duration, what string, action chromedp.Action[T]) T {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(cctx, action)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// navigate opens url in the tab.
func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	run(t, ctx, 20*time.Second, "open "+url, chromedp.Navigate(url))
}

// waitReady waits up to within for an element matching the CSS selector
// to be in the page.
func waitReady(t *testing.T, ctx context.Context, sel string, within time.Duration) {
	t.Helper()
	run(t, ctx, within, "wait for "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
}

// waitVisible waits up to within for an element matching sel to be
// visible.
func waitVisible(t *testing.T, ctx context.Context, sel string, within time.Duration) {
	t.Helper()
	run(t, ctx, within, "wait until visible "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// waitGone waits up to within until no element matches sel.
func waitGone(t *testing.T, ctx context.Context, sel string, within time.Duration) {
	t.Helper()
	waitJS(t, ctx, fmt.Sprintf("document.querySelector(%q) === null", sel), within)
}

// waitJS polls the JavaScript expression expr (which must give a boolean)
// every 100 ms until it is true or within passes.
func waitJS(t *testing.T, ctx context.Context, expr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(cctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last error: %v)", within, expr, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("browser gone waiting for %s: %v", expr, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitText waits up to within for the text of the first element matching
// sel to contain want.
func waitText(t *testing.T, ctx context.Context, sel, want string, within time.Duration) {
	t.Helper()
	waitJS(t, ctx, fmt.Sprintf("(e => !!e && e.textContent.includes(%q))(document.querySelector(%q))", want, sel), within)
}

// text is the text content of the first element matching sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return get(t, ctx, 10*time.Second, "text of "+sel, chromedp.TextContent(chromedp.CSS(sel), chromedp.NodeReady))
}

// screenshotDir is where screenshots go: $CONSULATE_UI_SCREENSHOTS when
// set (created if need be), else the test's temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("CONSULATE_UI_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// screenshot saves a PNG of the whole page as NAME.png and returns its
// path.
func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	buf := get(t, ctx, 20*time.Second, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(screenshotDir(t), unsafeName.ReplaceAllString(name, "_")+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
	return path
}

// The page tests use these helpers; the smoke test does not need them
// all, and staticcheck would call the rest unused.
var _ = []any{waitVisible, waitGone, waitText, text, (*agentProc).restart, (*agentProc).stop, (*agentProc).put}
