package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/consul/api"

	"consulate/structs"
)

// keyringAgent answers Internal.KeyringOperation with canned responses
// and records the requests; everything else goes to the fake agent.
type keyringAgent struct {
	*fakeAgent
	mu   sync.Mutex
	reqs []structs.KeyringRequest
	fail bool
}

func (k *keyringAgent) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	if method != structs.MethodKeyringOperation {
		return k.fakeAgent.RPC(ctx, method, args, reply)
	}
	a := args.(*structs.KeyringRequest)
	k.mu.Lock()
	k.reqs = append(k.reqs, *a)
	fail := k.fail
	k.mu.Unlock()
	out := reply.(*structs.KeyringResponses)
	out.Responses = []*structs.KeyringResponse{
		{WAN: true, Datacenter: "dc1", Keys: map[string]int{"K1": 2}, PrimaryKeys: map[string]int{"K1": 2}, NumNodes: 2},
		{Datacenter: "dc1", Keys: map[string]int{"K1": 3}, PrimaryKeys: map[string]int{"K1": 3}, NumNodes: 3},
	}
	if fail {
		out.Responses[1].Error = "1/3 nodes reported failure"
		out.Responses[1].Messages = map[string]string{"n2": "Removing the primary key is not allowed"}
	}
	return nil
}

func (k *keyringAgent) last() structs.KeyringRequest {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reqs[len(k.reqs)-1]
}

func TestOperatorKeyringWithOfficialClient(t *testing.T) {
	ka := &keyringAgent{fakeAgent: newFakeAgent()}
	ts := httptest.NewServer(mustNew(t, DefaultConfig(), ka).Handler())
	t.Cleanup(ts.Close)
	c, err := api.NewClient(&api.Config{Address: ts.Listener.Addr().String(), HttpClient: ts.Client()})
	if err != nil {
		t.Fatal(err)
	}
	op := c.Operator()
	list, err := op.KeyringList(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || !list[0].WAN || list[0].Keys["K1"] != 2 || list[0].PrimaryKeys["K1"] != 2 || list[0].NumNodes != 2 ||
		list[1].WAN || list[1].Datacenter != "dc1" || list[1].Keys["K1"] != 3 {
		t.Fatalf("list %+v %+v", list[0], list[1])
	}
	if r := ka.last(); r.Operation != structs.KeyringList || r.LocalOnly {
		t.Fatalf("list request %+v", r)
	}
	for name, call := range map[structs.KeyringOp]func() error{
		structs.KeyringInstall: func() error { return op.KeyringInstall("K2", nil) },
		structs.KeyringUse:     func() error { return op.KeyringUse("K2", nil) },
		structs.KeyringRemove:  func() error { return op.KeyringRemove("K2", nil) },
	} {
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r := ka.last(); r.Operation != name || r.Key != "K2" {
			t.Fatalf("%s request %+v", name, r)
		}
	}
	if code, body, _ := do(t, ts, http.MethodGet, "/v1/operator/keyring?local-only=true&relay-factor=2", ""); code != http.StatusOK {
		t.Fatalf("local-only: %d %s", code, body)
	}
	if r := ka.last(); !r.LocalOnly || r.RelayFactor != 2 {
		t.Fatalf("local-only request %+v", r)
	}
	if code, body, _ := do(t, ts, http.MethodGet, "/v1/operator/keyring?relay-factor=9", ""); code != http.StatusBadRequest {
		t.Fatalf("relay-factor 9: %d %s", code, body)
	}
	code, body, _ := do(t, ts, http.MethodPost, "/v1/operator/keyring?local-only", `{"Key":"K2"}`)
	if code != http.StatusBadRequest {
		t.Fatalf("install local-only: %d %s", code, body)
	}
	ka.mu.Lock()
	ka.fail = true
	ka.mu.Unlock()
	err = op.KeyringRemove("K1", nil)
	if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "dc1 (LAN) error: 1/3 nodes reported failure") ||
		!strings.Contains(err.Error(), "n2: Removing the primary key is not allowed") {
		t.Fatalf("failing remove: %v", err)
	}
}
