package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"consulate/structs"
)

// fuzzAgent is the fake agent that also accepts prepared queries, and
// records what each decoder handed on, so a fuzz target can check that a
// 200 carried well-formed arguments.
type fuzzAgent struct {
	*fakeAgent
	mu       sync.Mutex
	lastArgs map[structs.Method]any
	lastDef  *structs.ServiceDefinition
	lastChk  *structs.CheckType
}

func newFuzzAgent() *fuzzAgent {
	return &fuzzAgent{fakeAgent: newFakeAgent(), lastArgs: map[structs.Method]any{}}
}

func (a *fuzzAgent) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	a.mu.Lock()
	a.lastArgs[method] = args
	a.mu.Unlock()
	if method == structs.MethodPreparedQueryApply {
		*reply.(*string) = "11111111-2222-3333-4444-555555555555"
		return nil
	}
	return a.fakeAgent.RPC(ctx, method, args, reply)
}

func (a *fuzzAgent) AddService(def *structs.ServiceDefinition, replace bool, token string) error {
	a.mu.Lock()
	a.lastDef = def
	a.mu.Unlock()
	return a.fakeAgent.AddService(def, replace, token)
}

func (a *fuzzAgent) AddCheck(ct *structs.CheckType, token string) error {
	a.mu.Lock()
	a.lastChk = ct
	a.mu.Unlock()
	return a.fakeAgent.AddCheck(ct, token)
}

func (a *fuzzAgent) take(method structs.Method) any {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := a.lastArgs[method]
	delete(a.lastArgs, method)
	return v
}

// fuzzServe runs one request through the whole API handler (routing,
// body limits, decoding, validation). Any 5xx is a failure: bad input
// must be the client's error (4xx), never the server's.
func fuzzServe(t *testing.T, h http.Handler, method, target string, body []byte) (int, []byte) {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %s: %d %s\nbody: %q", method, target, rec.Code, rec.Body.Bytes(), body)
	}
	return rec.Code, rec.Body.Bytes()
}

func newFuzzServer() (*fuzzAgent, http.Handler) {
	a := newFuzzAgent()
	cfg := DefaultConfig()
	cfg.DefaultQueryTime = time.Millisecond
	srv, err := New(cfg, a, nil)
	if err != nil {
		panic(err) // DefaultConfig with a shorter wait is valid
	}
	return a, srv.Handler()
}

// checkKinds: a check that was accepted has exactly one kind and sane
// durations.
func checkKinds(t *testing.T, ct *structs.CheckType) {
	kinds := 0
	for _, set := range []bool{ct.HTTP != "", ct.TCP != "", len(ct.Args) > 0 || ct.Script != "", ct.TTL != 0} {
		if set {
			kinds++
		}
	}
	if kinds != 1 || ct.TTL < 0 || ct.Interval < 0 || ct.Timeout < 0 || (ct.TTL == 0 && ct.Interval == 0) {
		t.Fatalf("accepted check %+v", ct)
	}
}

// FuzzServiceRegister: PUT /v1/agent/service/register bodies. A 200 hands
// the agent a definition with a name, an ID, a port in range and checks
// of one kind each.
func FuzzServiceRegister(f *testing.F) {
	for _, s := range []string{
		`{"Name":"web","Port":8080,"Tags":["a"],"Meta":{"v":"1"},"Check":{"TTL":"10s"}}`,
		`{"name":"web","id":"w1","enable_tag_override":true,"checks":[{"http":"http://127.0.0.1/","interval":"5s"},{"tcp":"127.0.0.1:1","interval":1000000000}]}`,
		`{"Name":"x","Weights":{"Passing":3,"Warning":1},"TaggedAddresses":{"lan":{"Address":"127.0.0.1","Port":1}}}`,
		`{"Name":"x","Connect":null,"Proxy":{"a":1}}`, `{"Name":"x","Check":{"Args":["/bin/true"],"Interval":"1s","Status":"passing"}}`,
		`{"Name":"", "Port": 70000}`, `[1,2]`, ``,
	} {
		f.Add([]byte(s))
	}
	a, h := newFuzzServer()
	f.Fuzz(func(t *testing.T, body []byte) {
		code, _ := fuzzServe(t, h, "PUT", "/v1/agent/service/register", body)
		a.mu.Lock()
		def := a.lastDef
		a.lastDef = nil
		a.mu.Unlock()
		if code != 200 {
			if def != nil {
				t.Fatalf("%d but the definition reached the agent", code)
			}
			return
		}
		if def == nil || def.Name == "" || def.ID == "" || def.Port < 0 || def.Port > 65535 {
			t.Fatalf("200 with definition %+v", def)
		}
		for _, ct := range def.Checks {
			checkKinds(t, ct)
			if ct.ServiceID != def.ID || ct.CheckID == "" {
				t.Fatalf("service check %+v not tied to %s", ct, def.ID)
			}
		}
	})
}

// FuzzCheckRegister: PUT /v1/agent/check/register bodies.
func FuzzCheckRegister(f *testing.F) {
	for _, s := range []string{
		`{"Name":"mem","TTL":"30s"}`, `{"ID":"c","Name":"c","HTTP":"http://127.0.0.1/","Interval":"10s","Header":{"X":["y"]}}`,
		`{"name":"c","tcp":"127.0.0.1:1","interval":"1s","deregister_critical_service_after":"1m"}`,
		`{"Name":"c","TTL":"-1s"}`, `{"Name":"c","GRPC":"x"}`,
	} {
		f.Add([]byte(s))
	}
	a, h := newFuzzServer()
	f.Fuzz(func(t *testing.T, body []byte) {
		code, _ := fuzzServe(t, h, "PUT", "/v1/agent/check/register", body)
		a.mu.Lock()
		ct := a.lastChk
		a.lastChk = nil
		a.mu.Unlock()
		if code == 200 {
			if ct == nil {
				t.Fatal("200 without a check")
			}
			checkKinds(t, ct)
		}
	})
}

// FuzzKVPut: PUT /v1/kv/<key>?<query> with a body. A 200 on a plain set
// stores the body byte for byte, and a value over 512 KiB is a 413.
func FuzzKVPut(f *testing.F) {
	f.Add("k", "", []byte("value"))
	f.Add("a/b//c", "flags=42", []byte{0, 1, 2, 0xff})
	f.Add("k", "cas=0", []byte("x"))
	f.Add("k", "acquire=sess&release=sess", []byte(""))
	f.Add("k", "flags=-1", []byte("x"))
	f.Add("", "dc=dc1", []byte("x"))
	a, h := newFuzzServer()
	f.Fuzz(func(t *testing.T, key, query string, body []byte) {
		target := "/v1/kv/" + url.PathEscape(key)
		if query != "" {
			target += "?" + query
		}
		if _, err := url.ParseRequestURI(target); err != nil || strings.ContainsFunc(target, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return // not a request line a client could send
		}
		code, resp := fuzzServe(t, h, "PUT", target, body)
		args, _ := a.take(structs.MethodKVSApply).(*structs.KVSRequest)
		if len(body) > structs.MaxKVValueSize && code != 413 && code != 400 {
			t.Fatalf("%d-byte value: %d", len(body), code)
		}
		if code != 200 {
			return
		}
		if args == nil {
			t.Fatalf("200 without a KV write: %s", resp)
		}
		if !bytes.Equal(args.DirEnt.Value, body) && !(len(body) == 0 && args.DirEnt.Value == nil) {
			t.Fatalf("value changed on the way: %q -> %q", body, args.DirEnt.Value)
		}
		if len(args.DirEnt.Value) > structs.MaxKVValueSize {
			t.Fatalf("%d-byte value accepted", len(args.DirEnt.Value))
		}
	})
}

// FuzzTxn: PUT /v1/txn bodies. A 200 or 409 answers with Consul's shape
// and carried at most 128 operations, each with exactly one part: a valid
// KV verb with a value within the KV limit, or a valid catalog verb.
func FuzzTxn(f *testing.F) {
	for _, s := range []string{
		`[{"KV":{"Verb":"set","Key":"k","Value":"dmFsdWU="}},{"KV":{"Verb":"get","Key":"k"}}]`,
		`[{"KV":{"Verb":"cas","Key":"k","Index":3,"Value":"eA=="}}]`, `[{"Node":{"Verb":"set"}}]`,
		`[{"KV":{"Verb":"lock","Key":"k","Session":"s"}},null]`, `[]`, `{}`, `[{"KV":{"Verb":"nope"}}]`,
	} {
		f.Add([]byte(s))
	}
	a, h := newFuzzServer()
	f.Fuzz(func(t *testing.T, body []byte) {
		code, resp := fuzzServe(t, h, "PUT", "/v1/txn", body)
		args, _ := a.take(structs.MethodTxnApply).(*structs.TxnRequest)
		if rd, ok := a.take(structs.MethodTxnRead).(*structs.TxnReadRequest); ok {
			args = &structs.TxnRequest{Ops: rd.Ops}
		}
		if code != 200 && code != 409 {
			return
		}
		var out txnReply
		if err := json.Unmarshal(resp, &out); err != nil {
			t.Fatalf("%d with a body that is not a txn reply: %v %q", code, err, resp)
		}
		if args == nil || len(args.Ops) > maxTxnOps {
			t.Fatalf("%d with %v", code, args)
		}
		for _, op := range args.Ops {
			if op.Parts() != 1 {
				t.Fatalf("accepted op with %d parts", op.Parts())
			}
			switch {
			case op.KV != nil:
				if !validVerb(op.KV.Verb) || len(op.KV.DirEnt.Value) > structs.MaxKVValueSize {
					t.Fatalf("accepted op %+v", op.KV)
				}
			case op.Node != nil && !validCatalogVerb(op.Node.Verb),
				op.Service != nil && !validCatalogVerb(op.Service.Verb),
				op.Check != nil && !validCatalogVerb(op.Check.Verb),
				op.Session != nil && op.Session.Verb != structs.TxnDelete:
				t.Fatalf("accepted op %+v", op)
			}
		}
	})
}

// FuzzSessionCreate: PUT /v1/session/create bodies. A 200 returns an ID
// and carried a node and a lock delay within Consul's bounds.
func FuzzSessionCreate(f *testing.F) {
	for _, s := range []string{
		`{"Name":"lock","TTL":"15s","LockDelay":"5s","Behavior":"delete"}`,
		`{"Node":"n1","Checks":["serfHealth"],"LockDelay":15000000000}`,
		`{"NodeChecks":[],"ServiceChecks":[{"ID":"c","Namespace":""}]}`, `{"LockDelay":"2h"}`, `{"TTL":"1"}`, ``,
	} {
		f.Add([]byte(s))
	}
	a, h := newFuzzServer()
	f.Fuzz(func(t *testing.T, body []byte) {
		code, resp := fuzzServe(t, h, "PUT", "/v1/session/create", body)
		args, _ := a.take(structs.MethodSessionApply).(*structs.SessionRequest)
		if code != 200 {
			return
		}
		var out struct{ ID string }
		if err := json.Unmarshal(resp, &out); err != nil || out.ID == "" {
			t.Fatalf("200 without an ID: %q", resp)
		}
		if args == nil || args.Session.Node == "" || args.Session.LockDelay < 0 || args.Session.LockDelay > maxLockDelay {
			t.Fatalf("200 with %+v", args)
		}
	})
}

// FuzzPreparedQuery: POST /v1/query bodies. A 200 returns the new ID and
// handed on a query.
func FuzzPreparedQuery(f *testing.F) {
	for _, s := range []string{
		`{"Name":"web","Service":{"Service":"web","Tags":["v1"],"OnlyPassing":true,"Failover":{"NearestN":2,"Datacenters":["dc2"]}},"DNS":{"TTL":"10s"}}`,
		`{"Name":"","Template":{"Type":"name_prefix_match","Regexp":"^(.*)$"},"Service":{"Service":"${match(1)}"}}`,
		`{"Service":{"Near":"_agent","NodeMeta":{"a":"b"}}}`, `{"Service":7}`, `null`,
	} {
		f.Add([]byte(s))
	}
	a, h := newFuzzServer()
	f.Fuzz(func(t *testing.T, body []byte) {
		code, resp := fuzzServe(t, h, "POST", "/v1/query", body)
		args, _ := a.take(structs.MethodPreparedQueryApply).(*structs.PreparedQueryRequest)
		if code != 200 {
			return
		}
		var out struct{ ID string }
		if err := json.Unmarshal(resp, &out); err != nil || out.ID == "" {
			t.Fatalf("200 without an ID: %q", resp)
		}
		if args == nil || args.Query == nil || args.Op != structs.PreparedQueryCreate {
			t.Fatalf("200 with %+v", args)
		}
	})
}
