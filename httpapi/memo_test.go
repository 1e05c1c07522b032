package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
	"consulate/views"
)

// viewAgent is the fake agent with a client's live views in front, as the
// real client agent's RPC: reads a view answers never reach the fake's
// "servers". Its subscriptions stream the fake's nodes (token "few" sees
// only the first two), and push sends a change to every stream.
type viewAgent struct {
	*fakeAgent
	store *views.Store

	smu   sync.Mutex
	subs  map[chan *structs.ServiceHealthEvent]string // stream → token
	nodes structs.CheckServiceNodes
	index uint64
}

func newViewAgent(t testing.TB, n int) *viewAgent {
	t.Helper()
	f := newFakeAgent()
	f.nodes = testNodes(n)
	a := &viewAgent{fakeAgent: f, subs: map[chan *structs.ServiceHealthEvent]string{}, nodes: f.nodes, index: 10}
	cfg := views.DefaultConfig()
	cfg.LocalDC, cfg.StaleAfter = "dc1", time.Hour
	st, err := views.New(cfg, views.Deps{Subscribe: a.subscribe, NodeName: "node1"})
	if err != nil {
		t.Fatal(err)
	}
	a.store = st
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st.Shutdown(ctx)
	})
	return a
}

func visible(token string, nodes structs.CheckServiceNodes) structs.CheckServiceNodes {
	if token == "few" {
		return nodes[:2]
	}
	return nodes
}

func (a *viewAgent) subscribe(ctx context.Context, req *structs.SubscribeRequest, recv func(*structs.ServiceHealthEvent) error) error {
	ch := make(chan *structs.ServiceHealthEvent, 16)
	a.smu.Lock()
	snap := &structs.ServiceHealthEvent{Snapshot: true, Index: a.index, Nodes: visible(req.Token, a.nodes),
		ResultsFilteredByACLs: req.Token == "few"}
	a.subs[ch] = req.Token
	a.smu.Unlock()
	defer func() {
		a.smu.Lock()
		delete(a.subs, ch)
		a.smu.Unlock()
	}()
	if err := recv(snap); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-ch:
			if err := recv(ev); err != nil {
				return err
			}
		}
	}
}

// push sets node i's service check to status at the next index and sends
// the change to every stream; it returns the new index.
func (a *viewAgent) push(i int, status string) uint64 {
	a.smu.Lock()
	defer a.smu.Unlock()
	a.index++
	n := a.nodes[i]
	checks := append(structs.HealthChecks(nil), n.Checks...)
	c := *checks[1]
	c.Status = status
	checks[1] = &c
	n.Checks = checks
	nodes := append(structs.CheckServiceNodes(nil), a.nodes...)
	nodes[i] = n
	a.nodes = nodes
	for ch, tok := range a.subs {
		ev := &structs.ServiceHealthEvent{Index: a.index, ResultsFilteredByACLs: tok == "few"}
		if tok != "few" || i < 2 {
			ev.Nodes = structs.CheckServiceNodes{n}
		}
		ch <- ev
	}
	return a.index
}

func (a *viewAgent) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	if handled, err := a.store.RPC(ctx, method, args, reply); handled {
		return err
	}
	epoch := a.store.Epoch()
	if method == structs.MethodHealthServiceNodes {
		// The servers' answer: what the streams hold.
		q := args.(*structs.ServiceSpecificRequest)
		a.smu.Lock()
		out := reply.(*structs.IndexedCheckServiceNodes)
		out.Nodes = append(structs.CheckServiceNodes(nil), visible(q.Token, a.nodes)...)
		out.Index, out.KnownLeader, out.ResultsFilteredByACLs = a.index, true, q.Token == "few"
		a.smu.Unlock()
		a.store.Observe(epoch, method, args, reply)
		return nil
	}
	return a.fakeAgent.RPC(ctx, method, args, reply)
}

type answer struct {
	code   int
	header http.Header
	body   string
}

func doGet(t testing.TB, h http.Handler, url, token string) answer {
	t.Helper()
	req := httptest.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("X-Consul-Token", token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return answer{rec.Code, rec.Result().Header, string(b)}
}

// TestHealthMemoIdentical: view-served health answers from the memo (miss,
// then hit) are byte for byte, header for header, what the handler
// encodes without it, for each query variant and token, across changes,
// and for blocking reads woken by a change.
func TestHealthMemoIdentical(t *testing.T) {
	a := newViewAgent(t, 12)
	hc := DefaultConfig()
	hc.DefaultQueryTime = 2 * time.Second
	on := mustNew(t, hc, a)
	off := mustNew(t, hc, a)
	off.memo = nil
	hOn, hOff := on.Handler(), off.Handler()

	// The first reads go through and start the views.
	for _, tok := range []string{"", "few"} {
		doGet(t, hOff, "/v1/health/service/web", tok)
		testutil.WaitFor(t, 5*time.Second, "view serving for token "+tok, func() bool {
			return on.memoProbeServed(t, tok)
		})
	}
	variants := []string{"", "?passing", "?passing=true", "?passing=false", "?passing&pretty", "?pretty",
		"?tag=odd", "?tag=v1&tag=odd", "?tag=ODD&passing", "?node-meta=env:prod", "?node-meta=env:dev&passing",
		"?filter=Service.Port%20%3E%208003", "?filter=Service.Port%20%3E%208003&passing",
		"?stale", "?passing&stale", "?dc=dc1&passing", "?near=_agent", "?near=node3&passing", "?cached&passing"}
	compare := func(round string) {
		t.Helper()
		for _, tok := range []string{"", "few"} {
			for _, v := range variants {
				url := "/v1/health/service/web" + v
				want := doGet(t, hOff, url, tok)
				for i := range 2 {
					got := doGet(t, hOn, url, tok)
					if got.code != want.code || got.body != want.body {
						t.Fatalf("%s %s token %q read %d: %d %q, want %d %q", round, url, tok, i, got.code, got.body, want.code, want.body)
					}
					for _, h := range []string{"Content-Type", "X-Consul-Index", "X-Consul-KnownLeader",
						"X-Consul-LastContact", "X-Consul-Effective-Consistency", "X-Consul-Results-Filtered-By-ACLs",
						"X-Cache", "X-Consul-Translate-Addresses"} {
						if g, w := got.header.Values(h), want.header.Values(h); fmt.Sprint(g) != fmt.Sprint(w) {
							t.Fatalf("%s %s token %q: header %s = %q, want %q", round, url, tok, h, g, w)
						}
					}
				}
			}
		}
	}
	compare("initial")
	if on.memo.len() == 0 {
		t.Fatal("nothing memoized")
	}
	if doGet(t, hOn, "/v1/health/service/web", "").body == doGet(t, hOn, "/v1/health/service/web", "few").body {
		t.Fatal("tokens share an answer")
	}

	// A change: the memoized bodies of the old state are not served.
	idx := a.push(0, structs.HealthCritical)
	testutil.WaitFor(t, 5*time.Second, "new index served", func() bool {
		return doGet(t, hOn, "/v1/health/service/web?passing", "").header.Get("X-Consul-Index") == strconv.FormatUint(idx, 10)
	})
	compare("after change")

	// Blocking reads wake on the change and answer the new state.
	type res struct {
		on, off answer
	}
	done := make(chan res, 1)
	url := "/v1/health/service/web?passing&index=" + strconv.FormatUint(idx, 10)
	go func() {
		var r res
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); r.on = doGet(t, hOn, url, "") }()
		go func() { defer wg.Done(); r.off = doGet(t, hOff, url, "") }()
		wg.Wait()
		done <- r
	}()
	// Whether the reads block before the change or find it, they answer
	// the new state.
	idx = a.push(0, structs.HealthPassing)
	select {
	case r := <-done:
		if r.on.header.Get("X-Consul-Index") != strconv.FormatUint(idx, 10) || r.on.body != r.off.body {
			t.Fatalf("blocking read: index %s body %q, want %d %q", r.on.header.Get("X-Consul-Index"), r.on.body, idx, r.off.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocking reads did not return")
	}
	compare("after blocking")
}

// memoProbeServed reports whether a read with token is answered from a
// view (so its body is memoized).
func (s *Server) memoProbeServed(t testing.TB, token string) bool {
	before := s.memo.len()
	doGet(t, s.Handler(), "/v1/health/service/web?tag=probe-"+token, token)
	return s.memo.len() > before
}

func TestBodyMemoBounds(t *testing.T) {
	m := newBodyMemo()
	for i := range memoMaxEntries + 10 {
		m.put(memoKey{gen: uint64(i)}, make([]byte, 10))
	}
	if m.len() != memoMaxEntries {
		t.Fatalf("%d entries, want %d", m.len(), memoMaxEntries)
	}
	if _, ok := m.get(memoKey{gen: 0}); ok {
		t.Fatal("oldest entry kept")
	}
	for i := range 8 {
		m.put(memoKey{gen: uint64(1000 + i)}, make([]byte, memoMaxBody))
	}
	if m.bytes > memoMaxBytes || m.len() > memoMaxBytes/memoMaxBody {
		t.Fatalf("%d bytes in %d entries", m.bytes, m.len())
	}
	m.put(memoKey{gen: 5000}, make([]byte, memoMaxBody+1))
	if _, ok := m.get(memoKey{gen: 5000}); ok {
		t.Fatal("oversized body kept")
	}
	if memoExtra(&structs.ServiceSpecificRequest{ServiceTags: []string{"a:b"}, TagFilter: true}) ==
		memoExtra(&structs.ServiceSpecificRequest{ServiceTags: []string{"a", "b"}, TagFilter: true}) {
		t.Fatal("tag variants collide")
	}
}

// BenchmarkHealthServiceView: ?passing over 50 instances answered from a
// live view, with the body memo (memo) and without (encode).
func BenchmarkHealthServiceView(b *testing.B) {
	for _, memo := range []bool{true, false} {
		name := "memo"
		if !memo {
			name = "encode"
		}
		b.Run(name, func(b *testing.B) {
			a := newViewAgent(b, 50)
			srv := mustNew(b, DefaultConfig(), a)
			h := srv.Handler()
			doGet(b, h, "/v1/health/service/web", "")
			probe := mustNew(b, DefaultConfig(), a)
			testutil.WaitFor(b, 5*time.Second, "view serving", func() bool { return probe.memoProbeServed(b, "") })
			if !memo {
				srv.memo = nil
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				tmpl := httptest.NewRequest("GET", "/v1/health/service/web?passing", nil)
				for pb.Next() {
					// What net/http hands a handler per request: a fresh
					// request (its URL parsed) and header map.
					req := *tmpl
					u := *tmpl.URL
					req.URL = &u
					rec := &discardWriter{h: make(http.Header)}
					h.ServeHTTP(rec, &req)
					if rec.code != 200 || rec.n < 1000 {
						b.Fatalf("status %d, %d bytes", rec.code, rec.n)
					}
				}
			})
		})
	}
}

// discardWriter counts the body: the handler's own cost, without a
// recorder's copy of it.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}
func (d *discardWriter) Write(p []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	d.n += len(p)
	return len(p), nil
}
