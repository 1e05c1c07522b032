package ui

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// flowIPs: the flow tests run their own two-DC cluster on 127.0.23.x,
// apart from the smoke test's 127.0.21.x, so both can run at once.
var flowIPs = clusterIPs{DC1Server: "127.0.23.1", DC1Client: "127.0.23.2", DC2Server: "127.0.23.11"}

// fastWANGossip makes WAN failure detection take a few seconds instead
// of tens: probe every 200 ms, suspect for 2 probe intervals.
const fastWANGossip = `{
  "gossip_wan": {"probe_interval": "200ms", "probe_timeout": "100ms", "suspicion_mult": 2, "gossip_interval": "100ms"}
}`

// wanFailBound is how long the federation page may take to show a
// killed dc2 as unreachable with fastWANGossip: suspicion (at most 6 ×
// 2 × 200 ms) plus the blocking query's wake and a render.
const wanFailBound = 15 * time.Second

// startFlowCluster starts startCluster's shape on flowIPs, with short
// WAN gossip timers on the servers.
func startFlowCluster(t *testing.T) *cluster {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "gossip.json")
	if err := os.WriteFile(cfg, []byte(fastWANGossip), 0o644); err != nil {
		t.Fatal(err)
	}
	return startCluster(t, flowIPs, "-config-file", cfg)
}

// apiClient is the official Go client talking to agent a.
func apiClient(t *testing.T, a *agentProc) *api.Client {
	t.Helper()
	cl, err := api.NewClient(&api.Config{Address: a.ip + ":8500"})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// setSelect is JavaScript that picks value in the <select> matching sel
// and fires change, as a user's pick does; it gives true on success.
func setSelect(sel, value string) string {
	return fmt.Sprintf(`(s => { if (!s) return false; s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); return s.value === %q; })(document.querySelector(%q))`, value, value, sel)
}

// TestUIFlows walks issue 14's browser flows against one two-DC cluster
// of real agents: services → instance → node, the DC switcher, KV with
// CAS, a check going critical live, 500 services rendered, the phone
// width, the federation page during a DC outage, and the
// agent-unreachable banner. Each step saves a screenshot.
func TestUIFlows(t *testing.T) {
	skipWithoutChromium(t)
	start := time.Now()
	c := startFlowCluster(t)
	t.Logf("cluster up in %s", time.Since(start).Round(time.Millisecond))

	client := apiClient(t, c.DC1Client)
	// web: one instance on the client agent with a TTL check, one on the
	// dc1 server's node; billing: dc2 only.
	if err := client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "web-1", Name: "web", Port: 8080, Tags: []string{"v1", "edge"}, Meta: map[string]string{"team": "blue"},
		Check: &api.AgentServiceCheck{CheckID: "web-ttl", Name: "web TTL", TTL: "10m"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := client.Agent().PassTTL("web-ttl", "all good"); err != nil {
		t.Fatal(err)
	}
	if err := apiClient(t, c.DC1Server).Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "web-2", Name: "web", Port: 8081, Tags: []string{"v1"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := apiClient(t, c.DC2Server).Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "billing-1", Name: "billing", Port: 9090,
	}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 10*time.Second, "web with 2 instances in dc1", func() error {
		es, _, err := client.Health().Service("web", "", false, nil)
		if err != nil {
			return err
		}
		if len(es) != 2 {
			return fmt.Errorf("%d instances", len(es))
		}
		return nil
	})

	shots := map[string]string{}
	// Each flow gets its own browser: in one shared browser, after the KV
	// flow, leaving the 500-service page hung the tab's renderer
	// (Page.navigate and Runtime.evaluate both timed out while the agent
	// answered a plain GET); a fresh browser per flow keeps them apart.
	var ctx context.Context
	browser := func(t *testing.T) {
		ctx = newBrowser(t)
		run(t, ctx, 10*time.Second, "install the fetch tracker", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: fetchTracker})
			return err
		}))
	}
	shot := func(t *testing.T, name string) { shots[name] = screenshot(t, ctx, name) }

	t.Run("services-instance-node", func(t *testing.T) {
		browser(t)
		goTo(t, ctx, c.UI("/ui/"))
		waitJS(t, ctx, `location.pathname === "/ui/dc1/services"`, 10*time.Second)
		row := `tr[data-test="service-row"][data-name="web"]`
		waitReady(t, ctx, row, 10*time.Second)
		// web-1 passes its TTL and serfHealth of both nodes passes: 3
		// passing checks, nothing warning or critical.
		counts := `(r => r && [...r.querySelectorAll('[data-test="passing"],[data-test="warning"],[data-test="critical"]')].map(e => e.textContent).join("/"))(document.querySelector('` + row + `'))`
		if err := waitJSErr(ctx, counts+` === "3/0/0"`, 10*time.Second); err != nil {
			t.Errorf("web row passing/warning/critical: got %q, want 3/0/0 (%v)", get(t, ctx, 5*time.Second, "counts", chromedp.Evaluate[string](counts)), err)
		}
		shot(t, "services")

		run(t, ctx, 10*time.Second, "open web", chromedp.Click(chromedp.CSS(row+` a`)))
		waitJS(t, ctx, `location.pathname === "/ui/dc1/services/web"`, 10*time.Second)
		inst := `[data-test="instance"][data-node="dc1-s1"][data-id="web-2"]`
		waitReady(t, ctx, inst, 10*time.Second)
		waitReady(t, ctx, `[data-test="instance"][data-node="dc1-c1"][data-id="web-1"] [data-test="check"][data-check-id="web-ttl"][data-status="passing"]`, 10*time.Second)
		waitText(t, ctx, `[data-test="check"][data-check-id="web-ttl"] [data-test="check-output"]`, "all good", 10*time.Second)
		shot(t, "service")

		run(t, ctx, 10*time.Second, "follow node link", chromedp.Click(chromedp.CSS(inst+` a[data-test="node-link"]`)))
		waitJS(t, ctx, `location.pathname === "/ui/dc1/nodes/dc1-s1"`, 10*time.Second)
		waitReady(t, ctx, `[data-test="node-service"][data-id="web-2"]`, 10*time.Second)
		waitReady(t, ctx, `[data-test="check"][data-check-id="serfHealth"][data-status="passing"]`, 10*time.Second)
		// RTT needs both nodes' LAN coordinates, which come after a few
		// gossip rounds; the view refreshes them on its own.
		waitJS(t, ctx, `(e => !!e && / ms from dc1-c1/.test(e.textContent))(document.querySelector('[data-test="node-rtt"]'))`, 30*time.Second)
		t.Logf("node RTT: %s", text(t, ctx, `[data-test="node-rtt"]`))
		shot(t, "node")
	})

	t.Run("dc-switcher", func(t *testing.T) {
		browser(t)
		goTo(t, ctx, c.UI("/ui/dc1/services"))
		waitReady(t, ctx, `tr[data-test="service-row"][data-name="web"]`, 10*time.Second)
		waitJS(t, ctx, `!!document.querySelector('[data-test="dc-switcher"] option[value="dc2"]')`, 10*time.Second)
		waitJS(t, ctx, setSelect(`[data-test="dc-switcher"]`, "dc2"), 5*time.Second)
		waitJS(t, ctx, `location.pathname.startsWith("/ui/dc2/services")`, 10*time.Second)
		waitReady(t, ctx, `tr[data-test="service-row"][data-name="billing"]`, 10*time.Second)
		if n := get(t, ctx, 5*time.Second, "web rows in dc2", chromedp.Evaluate[int](`document.querySelectorAll('tr[data-test="service-row"][data-name="web"]').length`)); n != 0 {
			t.Errorf("dc2 services list shows web (%d rows); web is registered in dc1 only", n)
		}
		// Back to dc1 on the service page keeps the service.
		run(t, ctx, 10*time.Second, "open billing", chromedp.Click(chromedp.CSS(`tr[data-test="service-row"][data-name="billing"] a`)))
		waitJS(t, ctx, `location.pathname === "/ui/dc2/services/billing"`, 10*time.Second)
		waitReady(t, ctx, `[data-test="instance"][data-node="dc2-s1"][data-id="billing-1"]`, 10*time.Second)
		waitJS(t, ctx, setSelect(`[data-test="dc-switcher"]`, "dc1"), 5*time.Second)
		waitJS(t, ctx, `location.pathname === "/ui/dc1/services/billing"`, 10*time.Second)
		waitReady(t, ctx, `[data-test="empty"]`, 10*time.Second)
	})

	t.Run("kv", func(t *testing.T) {
		browser(t)
		kv := client.KV()
		if _, err := kv.Put(&api.KVPair{Key: "app/config/other", Value: []byte("x")}, nil); err != nil {
			t.Fatal(err)
		}
		goTo(t, ctx, c.UI("/ui/dc1/kv/app/config/"))
		waitReady(t, ctx, `[data-test="kv-entry"][data-key="app/config/other"]`, 10*time.Second)
		run(t, ctx, 10*time.Second, "fill the create form",
			chromedp.SendKeys(chromedp.CSS(`form[data-test="kv-create"] input[name="key"]`), "db"),
			chromedp.SendKeys(chromedp.CSS(`form[data-test="kv-create"] textarea[name="value"]`), "postgres://one"),
			chromedp.SetValue(chromedp.CSS(`form[data-test="kv-create"] input[name="flags"]`), "42"),
			chromedp.Click(chromedp.CSS(`form[data-test="kv-create"] button[type="submit"]`)),
		)
		waitJS(t, ctx, `location.pathname === "/ui/dc1/kv/app/config/db"`, 10*time.Second)
		waitJS(t, ctx, `(e => !!e && e.value === "postgres://one")(document.querySelector('textarea[data-test="kv-value"]'))`, 10*time.Second)
		p, _, err := kv.Get("app/config/db", nil)
		if err != nil || p == nil || string(p.Value) != "postgres://one" || p.Flags != 42 {
			t.Fatalf("after create: %+v, %v; want value postgres://one flags 42", p, err)
		}
		shot(t, "kv-key")

		// Edit and save: a CAS write on the loaded ModifyIndex.
		run(t, ctx, 10*time.Second, "edit and save",
			typeInto(`textarea[data-test="kv-value"]`, "postgres://two"),
			chromedp.Click(chromedp.CSS(`[data-test="kv-save"]`)),
		)
		testutil.WaitForErr(t, 10*time.Second, "the saved value", func() error {
			p, _, err := kv.Get("app/config/db", nil)
			if err != nil {
				return err
			}
			if p == nil || string(p.Value) != "postgres://two" {
				return fmt.Errorf("got %+v", p)
			}
			return nil
		})
		waitJS(t, ctx, fmt.Sprintf(`(e => !!e && e.textContent === "%d")(document.querySelector('[data-test="kv-modify-index"]'))`, get2(t, kv)), 10*time.Second)
		if v := get(t, ctx, 5*time.Second, "value", chromedp.Value(chromedp.CSS(`textarea[data-test="kv-value"]`))); v != "postgres://two" {
			t.Errorf("textarea after save: %q, want postgres://two", v)
		}

		// A CAS conflict: the user edits, the key changes underneath
		// (through the official client), the save is refused.
		run(t, ctx, 10*time.Second, "edit again",
			typeInto(`textarea[data-test="kv-value"]`, "postgres://mine"),
		)
		if _, err := kv.Put(&api.KVPair{Key: "app/config/db", Value: []byte("postgres://theirs")}, nil); err != nil {
			t.Fatal(err)
		}
		// The page notices the newer value while the edit is open (and
		// the notice moves the Save button: wait for it before clicking,
		// or the click can land where the button was).
		waitJS(t, ctx, `(e => !!e && !e.hidden)(document.querySelector('[data-newer]'))`, 10*time.Second)
		run(t, ctx, 10*time.Second, "save", chromedp.Click(chromedp.CSS(`[data-test="kv-save"]`)))
		if err := waitJSErr(ctx, `(e => !!e && !e.hidden && e.textContent.includes("postgres://theirs"))(document.querySelector('[data-test="kv-conflict"]'))`, 10*time.Second); err != nil {
			p, _, _ := kv.Get("app/config/db", nil)
			state := get(t, ctx, 5*time.Second, "page state", chromedp.Evaluate[string](`JSON.stringify({value: document.querySelector('textarea[data-test="kv-value"]').value, index: document.querySelector('[data-test="kv-modify-index"]').textContent, saved: (document.querySelector('[data-saved]') || {}).textContent, newer: (document.querySelector('[data-newer]') || {}).textContent, conflict: document.querySelector('[data-test="kv-conflict"]').outerHTML})`))
			t.Fatalf("no CAS conflict shown after saving over a newer value: %v\npage: %s\nkey now: %+v", err, state, p)
		}
		if p, _, _ := kv.Get("app/config/db", nil); p == nil || string(p.Value) != "postgres://theirs" {
			t.Errorf("after the refused save the key is %+v; want postgres://theirs", p)
		}

		// The folder, then delete with confirmation.
		goTo(t, ctx, c.UI("/ui/dc1/kv/app/config/"))
		waitReady(t, ctx, `[data-test="kv-entry"][data-key="app/config/db"]`, 10*time.Second)
		shot(t, "kv-folder")
		goTo(t, ctx, c.UI("/ui/dc1/kv/app/config/db"))
		waitReady(t, ctx, `[data-test="kv-delete"]`, 10*time.Second)
		run(t, ctx, 10*time.Second, "delete", chromedp.Click(chromedp.CSS(`[data-test="kv-delete"]`)))
		waitJS(t, ctx, `document.getElementById("confirm-dialog").open`, 5*time.Second)
		if p, _, _ := kv.Get("app/config/db", nil); p == nil {
			t.Errorf("key deleted before the confirmation")
		}
		run(t, ctx, 10*time.Second, "confirm", chromedp.Click(chromedp.CSS(`[data-test="confirm"]`)))
		waitJS(t, ctx, `location.pathname === "/ui/dc1/kv/app/config/"`, 10*time.Second)
		waitGone(t, ctx, `[data-test="kv-entry"][data-key="app/config/db"]`, 10*time.Second)
		if p, _, _ := kv.Get("app/config/db", nil); p != nil {
			t.Errorf("after delete the key is %+v", p)
		}
	})

	t.Run("check-goes-critical-live", func(t *testing.T) {
		browser(t)
		goTo(t, ctx, c.UI("/ui/dc1/services/web"))
		sel := `[data-test="check"][data-check-id="web-ttl"]`
		waitReady(t, ctx, sel+`[data-status="passing"]`, 10*time.Second)
		// Mark the page: a reload would lose the mark.
		run(t, ctx, 5*time.Second, "mark", chromedp.Evaluate[chromedp.Void](`window.__noReload = true; undefined`))
		changed := time.Now()
		if err := client.Agent().FailTTL("web-ttl", "disk on fire"); err != nil {
			t.Fatal(err)
		}
		waitReady(t, ctx, sel+`[data-status="critical"]`, 10*time.Second)
		t.Logf("critical shown %s after the API call", time.Since(changed).Round(time.Millisecond))
		waitText(t, ctx, sel+` [data-test="check-output"]`, "disk on fire", 5*time.Second)
		waitJS(t, ctx, `window.__noReload === true`, 2*time.Second)
		shot(t, "service-critical")
		if err := client.Agent().PassTTL("web-ttl", "all good"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("phone-width", func(t *testing.T) {
		browser(t)
		run(t, ctx, 10*time.Second, "viewport 375", chromedp.EmulateViewport(375, 800))
		goTo(t, ctx, c.UI("/ui/dc1/services"))
		waitReady(t, ctx, `tr[data-test="service-row"][data-name="web"]`, 10*time.Second)
		// Nothing wider than the screen: no sideways scroll of the page.
		if w := get(t, ctx, 5*time.Second, "scroll width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 375 {
			t.Errorf("page is %d px wide at a 375 px viewport", w)
		}
		shot(t, "services-phone")
		run(t, ctx, 10*time.Second, "viewport 1280", chromedp.EmulateViewport(1280, 800))
	})

	t.Run("render-500-services", func(t *testing.T) {
		browser(t)
		register500(t, c.DC1Server)
		goTo(t, ctx, c.UI("/ui/dc1/nodes"))
		waitReady(t, ctx, `tr[data-test="node-row"]`, 10*time.Second)
		// In-app navigation (click on Services) to 500 rows in the DOM
		// and painted; the render alone is from the answer of the one
		// read (internal/ui/services) to the painted rows.
		fig := get(t, ctx, 20*time.Second, "render 500", chromedp.Evaluate[[]float64](`new Promise(res => {
  const t0 = performance.now();
  document.querySelector('[data-test="nav-services"]').click();
  const check = () => {
    if (document.querySelectorAll('tr[data-test="service-row"]').length >= 500) requestAnimationFrame(() => {
      const t1 = performance.now();
      const reads = performance.getEntriesByType('resource').filter(e => e.startTime >= t0 && /\/v1\/internal\/ui\/services\?dc=dc1$/.test(e.name));
      const dataAt = Math.max(...reads.map(e => e.responseEnd));
      res([t1 - t0, t1 - dataAt, reads.length]);
    });
    else requestAnimationFrame(check);
  };
  check();
})`, chromedp.EvalAwaitPromise))
		n := get(t, ctx, 5*time.Second, "rows", chromedp.Evaluate[int](`document.querySelectorAll('tr[data-test="service-row"]').length`))
		t.Logf("500 services (%d rows): click → rows painted %.1f ms (one read + build + paint); the read's answer → rows painted %.1f ms (%v reads timed)", n, fig[0], fig[1], fig[2])
		// A cold load of a deep link: navigation start to 500 rows in the
		// DOM (window.__rowsAt, set by the tracker's observer).
		goTo(t, ctx, c.UI("/ui/dc1/services?cold=1"))
		waitJS(t, ctx, `window.__rowsAt > 0`, 10*time.Second)
		cold := get(t, ctx, 5*time.Second, "cold", chromedp.Evaluate[float64](`window.__rowsAt`))
		t.Logf("500 services: cold load of /ui/dc1/services, navigation start → 500 rows in the DOM: %.1f ms (target < 200 ms)", cold)
		// The target is 200 ms on an idle box; the gate is looser, so a
		// busy shared machine does not fail it, but a slow render does.
		if cold > 1000 || fig[0] > 1000 {
			t.Errorf("500 services took %.1f ms (cold) / %.1f ms (in-app) to render, want well under 1 s (target 200 ms)", cold, fig[0])
		}
	})

	t.Run("federation-dc2-unreachable", func(t *testing.T) {
		browser(t)
		goTo(t, ctx, c.UI("/ui/dc1/federation"))
		waitReady(t, ctx, `tr[data-test="dc-row"][data-dc="dc2"][data-state="healthy"]`, 15*time.Second)
		waitReady(t, ctx, `tr[data-test="dc-row"][data-dc="dc1"][data-state="healthy"]`, 5*time.Second)
		waitReady(t, ctx, `[data-test="rtt-matrix"]`, 5*time.Second)
		shot(t, "federation")
		stopped := time.Now()
		c.DC2Server.stop(syscall.SIGKILL, 10*time.Second)
		waitReady(t, ctx, `tr[data-test="dc-row"][data-dc="dc2"][data-state="unreachable"]`, wanFailBound)
		t.Logf("dc2 shown unreachable %s after its server was killed (bound %s)", time.Since(stopped).Round(time.Millisecond), wanFailBound)
		waitReady(t, ctx, `[data-test="event"][data-dc="dc2"][data-event="fail"]`, 5*time.Second)
		shot(t, "federation-dc2-unreachable")
	})

	t.Run("agent-unreachable-banner", func(t *testing.T) {
		browser(t)
		goTo(t, ctx, c.UI("/ui/dc1/services"))
		waitReady(t, ctx, `tr[data-test="service-row"][data-name="web"]`, 10*time.Second)
		banner := `(e => !!e && !e.hidden && e.getAttribute("role") === "alert")(document.querySelector('[data-test="agent-unreachable"]'))`
		if ok := get(t, ctx, 5*time.Second, "banner", chromedp.Evaluate[bool](banner)); ok {
			t.Fatalf("banner shown while the agent answers")
		}
		stopped := time.Now()
		c.DC1Client.stop(syscall.SIGKILL, 10*time.Second)
		waitJS(t, ctx, banner, 15*time.Second)
		t.Logf("banner shown %s after the agent was killed", time.Since(stopped).Round(time.Millisecond))
		shot(t, "agent-unreachable")
		c.DC1Client.restart()
		c.DC1Client.waitHTTP(20 * time.Second)
		back := time.Now()
		waitJS(t, ctx, `(e => !!e && e.hidden)(document.querySelector('[data-test="agent-unreachable"]'))`, 25*time.Second)
		t.Logf("banner gone %s after the agent answered again", time.Since(back).Round(time.Millisecond))
	})

	if dir := os.Getenv("CONSULATE_UI_SCREENSHOTS"); dir != "" {
		t.Logf("screenshots in %s: %v", dir, keys(shots))
	}
	t.Logf("TestUIFlows took %s", time.Since(start).Round(time.Millisecond))
}

// goTo opens url in the tab: Page.navigate, then a bounded wait until the
// document at url has loaded. (chromedp.Navigate's wait on load events
// hung now and then in this suite after the 500-service page; polling
// the document does not depend on those events.)
func goTo(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	run(t, ctx, 5*time.Second, "mark the old document", chromedp.Evaluate[chromedp.Void](`window.__old = true; undefined`))
	err := chromedp.Do(withTimeout(ctx, 10*time.Second), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, page.Navigate, page.NavigateParams{URL: url})
		if err != nil {
			return err
		}
		if res.ErrorText != "" {
			return fmt.Errorf("%s", res.ErrorText)
		}
		return nil
	}))
	if err != nil {
		// Tell what holds the browser: the agent, or the page's requests.
		hc := &http.Client{Timeout: 3 * time.Second}
		resp, herr := hc.Get(url)
		if resp != nil {
			resp.Body.Close()
		}
		inflight, _ := chromedp.Run(withTimeout(ctx, 3*time.Second), chromedp.Evaluate[string](`[...(window.__inflight || [])].join(" | ")`))
		t.Fatalf("navigate to %s: %v (a plain GET of it now: %v %v; page fetches in flight: %s)", url, err, statusOf(resp), herr, inflight)
	}
	waitJS(t, ctx, `!window.__old && document.readyState === "complete" && !!document.getElementById("main")`, 15*time.Second)
}

func statusOf(r *http.Response) string {
	if r == nil {
		return "no answer"
	}
	return r.Status
}

// withTimeout is ctx bounded by d; the cancel runs when d has passed.
func withTimeout(ctx context.Context, d time.Duration) context.Context {
	cctx, cancel := context.WithTimeout(ctx, d)
	time.AfterFunc(d+time.Second, cancel)
	return cctx
}

// fetchTracker runs in every page before its scripts: it keeps the URLs
// of the fetches in flight in window.__inflight (a Set), so a test can
// tell what holds the browser's connections to the agent.
const fetchTracker = `(() => {
  const f = window.fetch.bind(window);
  window.__inflight = new Set();
  let n = 0;
  window.fetch = (input, init) => {
    const key = (++n) + ' ' + String(input && input.url ? input.url : input);
    window.__inflight.add(key);
    const p = f(input, init);
    p.then(() => window.__inflight.delete(key), () => window.__inflight.delete(key));
    return p;
  };
  window.__rowsAt = 0;
  const mo = new MutationObserver(() => {
    if (!window.__rowsAt && document.querySelectorAll('tr[data-test="service-row"]').length >= 500) {
      window.__rowsAt = performance.now();
      mo.disconnect();
    }
  });
  mo.observe(document, {childList: true, subtree: true});
})();`

// typeInto clears the field matching sel and types v into it, key by
// key (so input events fire as for a user).
func typeInto(sel, v string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.Evaluate[bool](fmt.Sprintf(`(e => { if (!e) return false; e.value = ""; e.focus(); return true; })(document.querySelector(%q))`, sel))(ctx, tg); err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.SendKeys(chromedp.CSS(sel), v)(ctx, tg)
	}
}

// waitJSErr polls expr every 100 ms until it is true, or gives an error
// after within.
func waitJSErr(ctx context.Context, expr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(cctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s (last error: %v)", within, expr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// get2 is the ModifyIndex of app/config/db read through the client.
func get2(t *testing.T, kv *api.KV) uint64 {
	t.Helper()
	p, _, err := kv.Get("app/config/db", nil)
	if err != nil || p == nil {
		t.Fatalf("get app/config/db: %+v %v", p, err)
	}
	return p.ModifyIndex
}

// register500 registers 500 services svc-000..svc-499, each on its own
// node with a passing node check, through /v1/catalog/register on a.
func register500(t *testing.T, a *agentProc) {
	t.Helper()
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 500)
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				body := fmt.Sprintf(`{"Node":"bulk-%03d","Address":"127.0.99.%d","Service":{"ID":"svc-%03d","Service":"svc-%03d","Port":%d,"Tags":["bulk"]},"Check":{"CheckID":"alive","Name":"alive","Status":"passing"}}`,
					i, i%250+1, i, i, 20000+i)
				if err := a.put("/v1/catalog/register", body); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < 500; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("register: %v", err)
	}
	t.Logf("registered 500 services in %s", time.Since(began).Round(time.Millisecond))
}

func keys(m map[string]string) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return strings.Join(out, ", ")
}
