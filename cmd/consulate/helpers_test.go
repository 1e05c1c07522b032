package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// result is what one CLI invocation produced.
type result struct {
	stdout, stderr string
	code           int
}

// cli runs the binary in-process with the given environment and stdin.
func runCLI(t *testing.T, envVars map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	e := &env{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errb,
		getenv: func(k string) string { return envVars[k] },
	}
	err := e.run(ctx, append([]string{"consulate"}, args...))
	return result{stdout: out.String(), stderr: errb.String(), code: exitCode(err)}
}

// fakeAgent is an httptest server on loopback that records every request
// and answers from per-test handlers plus an in-memory KV store.
type fakeAgent struct {
	t   *testing.T
	srv *httptest.Server
	mux *http.ServeMux

	mu   sync.Mutex
	reqs []recorded
	kv   map[string]*api.KVPair
	idx  uint64
}

type recorded struct {
	method string
	path   string
	query  map[string][]string
	body   string
}

func newFakeAgent(t *testing.T) *fakeAgent {
	t.Helper()
	f := &fakeAgent{t: t, mux: http.NewServeMux(), kv: map[string]*api.KVPair{}, idx: 1}
	f.mux.HandleFunc("/v1/kv/", f.handleKV)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{method: r.Method, path: r.URL.Path, query: r.URL.Query(), body: string(body)})
		f.mu.Unlock()
		f.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// addr is the server's host:port (no scheme).
func (f *fakeAgent) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// run invokes the CLI pointed at this fake through the Consulate env var.
func (f *fakeAgent) run(args ...string) result {
	f.t.Helper()
	return runCLI(f.t, map[string]string{"CONSULATE_HTTP_ADDR": f.addr()}, "", args...)
}

func (f *fakeAgent) runStdin(stdin string, args ...string) result {
	f.t.Helper()
	return runCLI(f.t, map[string]string{"CONSULATE_HTTP_ADDR": f.addr()}, stdin, args...)
}

func (f *fakeAgent) handle(pattern string, h http.HandlerFunc) { f.mux.HandleFunc(pattern, h) }

// json answers every request on pattern with v.
func (f *fakeAgent) json(pattern string, v any) {
	f.handle(pattern, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, v) })
}

// last returns the last recorded request whose path starts with prefix.
func (f *fakeAgent) last(prefix string) recorded {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.reqs) - 1; i >= 0; i-- {
		if strings.HasPrefix(f.reqs[i].path, prefix) {
			return f.reqs[i]
		}
	}
	f.t.Fatalf("no request to %s; got %v", prefix, f.reqs)
	return recorded{}
}

func (f *fakeAgent) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (r recorded) has(param string) bool { _, ok := r.query[param]; return ok }
func (r recorded) get(param string) string {
	if v := r.query[param]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Consul-Index", "7")
	_ = json.NewEncoder(w).Encode(v)
}

// handleKV implements enough of /v1/kv for the CLI: get (single, recurse,
// keys with separator), put (flags, cas, acquire, release), delete (recurse,
// cas).
func (f *fakeAgent) handleKV(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/v1/kv/")
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		if q.Has("keys") {
			sep := q.Get("separator")
			seen := map[string]bool{}
			var keys []string
			for k := range f.kv {
				if !strings.HasPrefix(k, key) {
					continue
				}
				if sep != "" {
					if i := strings.Index(k[len(key):], sep); i >= 0 {
						k = k[:len(key)+i+len(sep)]
					}
				}
				if !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
			if len(keys) == 0 {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			sort.Strings(keys)
			writeJSON(w, keys)
			return
		}
		var out []*api.KVPair
		for k, p := range f.kv {
			if (q.Has("recurse") && strings.HasPrefix(k, key)) || k == key {
				out = append(out, p)
			}
		}
		if len(out) == 0 {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		writeJSON(w, out)
	case http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		cur := f.kv[key]
		if q.Has("cas") {
			want, err := strconv.ParseUint(q.Get("cas"), 10, 64)
			if err != nil {
				http.Error(w, "bad cas", http.StatusBadRequest)
				return
			}
			if (want == 0 && cur != nil) || (want != 0 && (cur == nil || cur.ModifyIndex != want)) {
				writeJSON(w, false)
				return
			}
		}
		if s := q.Get("acquire"); s != "" {
			if cur != nil && cur.Session != "" && cur.Session != s {
				writeJSON(w, false)
				return
			}
		}
		if s := q.Get("release"); s != "" {
			if cur == nil || cur.Session != s {
				writeJSON(w, false)
				return
			}
		}
		f.idx++
		p := &api.KVPair{Key: key, Value: body, CreateIndex: f.idx, ModifyIndex: f.idx}
		if cur != nil {
			p.CreateIndex, p.Session, p.LockIndex = cur.CreateIndex, cur.Session, cur.LockIndex
		}
		if fl := q.Get("flags"); fl != "" {
			n, err := strconv.ParseUint(fl, 10, 64)
			if err != nil {
				http.Error(w, "bad flags", http.StatusBadRequest)
				return
			}
			p.Flags = n
		}
		if s := q.Get("acquire"); s != "" {
			p.Session = s
			p.LockIndex++
		}
		if q.Get("release") != "" {
			p.Session = ""
		}
		f.kv[key] = p
		writeJSON(w, true)
	case http.MethodDelete:
		if q.Has("cas") {
			want, _ := strconv.ParseUint(q.Get("cas"), 10, 64)
			if cur := f.kv[key]; cur == nil || cur.ModifyIndex != want {
				writeJSON(w, false)
				return
			}
		}
		for k := range f.kv {
			if k == key || (q.Has("recurse") && strings.HasPrefix(k, key)) {
				delete(f.kv, k)
			}
		}
		writeJSON(w, true)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// pair reads one stored pair (nil if absent) under the store's lock.
func (f *fakeAgent) pair(key string) *api.KVPair {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.kv[key]; ok {
		cp := *p
		return &cp
	}
	return nil
}

func (f *fakeAgent) kvLen() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.kv)
}

// lines splits output into lines without the trailing empty one.
func lines(s string) []string {
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

// fields splits a columnized line on runs of spaces.
func fields(s string) []string { return strings.Fields(s) }

func wantOK(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q, stdout %q", r.code, r.stderr, r.stdout)
	}
}

func wantFail(t *testing.T, r result, code int, stderrHas string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d; stderr %q stdout %q", r.code, code, r.stderr, r.stdout)
	}
	if !strings.Contains(r.stderr, stderrHas) {
		t.Fatalf("stderr %q does not contain %q", r.stderr, stderrHas)
	}
}
