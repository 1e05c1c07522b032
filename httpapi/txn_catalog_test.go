package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"consulate/structs"
)

// TestTxnCatalogOpsConverted: the official client's shapes (extra fields
// included) reach the RPC as Consul's conversion keeps them; a
// transaction of gets goes to Txn.Read with the consistency options.
func TestTxnCatalogOpsConverted(t *testing.T) {
	a, h := newFuzzServer()
	body := `[
{"Node":{"Verb":"set","Node":{"ID":"","Node":"n1","Address":"10.0.0.1","Datacenter":"","TaggedAddresses":null,"Meta":{"a":"b"},"CreateIndex":0,"ModifyIndex":0}}},
{"Service":{"Verb":"cas","Node":"n1","Service":{"ID":"web1","Service":"web","Tags":["x"],"Port":80,"Weights":{"Passing":3,"Warning":1},
  "EnableTagOverride":false,"ModifyIndex":7,"ContentHash":"","Proxy":null,"Connect":null,"Namespace":"","Datacenter":""}}},
{"Check":{"Verb":"set","Check":{"Node":"n1","CheckID":"c1","Name":"alive","Status":"passing","ServiceID":"web1","ServiceName":"web",
  "Type":"http","ExposedPort":0,"Definition":{"HTTP":"http://10.0.0.1/","Interval":"10s","Timeout":5000000000,"DeregisterCriticalServiceAfter":"0s"}}}},
{"Session":{"Verb":"delete","Session":{"ID":"s1"}}}
]`
	req := httptest.NewRequest("PUT", "/v1/txn", strings.NewReader(body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	args, _ := a.take(structs.MethodTxnApply).(*structs.TxnRequest)
	if args == nil || len(args.Ops) != 4 {
		t.Fatalf("%d %s: %+v", w.Code, w.Body, args)
	}
	n, sv, c, se := args.Ops[0].Node, args.Ops[1].Service, args.Ops[2].Check, args.Ops[3].Session
	if n == nil || n.Verb != "set" || n.Node.Node != "n1" || n.Node.Meta["a"] != "b" {
		t.Fatalf("node %+v", n)
	}
	if sv == nil || sv.Verb != "cas" || sv.Node != "n1" || sv.Service.ModifyIndex != 7 || sv.Service.Weights.Passing != 3 {
		t.Fatalf("service %+v", sv)
	}
	if c == nil || c.Check.Definition.Interval != "10s" || c.Check.Definition.Timeout != "5s" || c.Check.Definition.HTTP == "" {
		t.Fatalf("check %+v", c)
	}
	if se == nil || se.Session.ID != "s1" {
		t.Fatalf("session %+v", se)
	}

	req = httptest.NewRequest("PUT", "/v1/txn?stale", strings.NewReader(
		`[{"Node":{"Verb":"get","Node":{"Node":"n1"}}},{"KV":{"Verb":"get-or-empty","Key":"nope"}}]`))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	rd, _ := a.take(structs.MethodTxnRead).(*structs.TxnReadRequest)
	if rd == nil || !rd.AllowStale || len(rd.Ops) != 2 || a.take(structs.MethodTxnApply) != nil {
		t.Fatalf("read txn: %d %s %+v", w.Code, w.Body, rd)
	}
	if w.Code != http.StatusConflict { // the fake answers KV only
		t.Fatalf("read txn code %d", w.Code)
	}
}
