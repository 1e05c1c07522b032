package server

import (
	"context"
	"errors"
	"sync"
	"testing"

	"consulate/structs"
)

// fakeKeyring records the operations applied to one pool.
type fakeKeyring struct {
	wan bool
	dc  string
	mu  sync.Mutex
	ops []structs.KeyringOp
}

func (f *fakeKeyring) KeyringOperation(_ context.Context, op structs.KeyringOp, key string) *structs.KeyringResponse {
	f.mu.Lock()
	f.ops = append(f.ops, op)
	f.mu.Unlock()
	return &structs.KeyringResponse{WAN: f.wan, Datacenter: f.dc, Keys: map[string]int{key: 1}, PrimaryKeys: map[string]int{}, NumNodes: 1}
}

func (f *fakeKeyring) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ops)
}

func TestKeyringOperationAcrossDatacenters(t *testing.T) {
	lan2, wan2 := &fakeKeyring{dc: "dc2"}, &fakeKeyring{wan: true, dc: "dc2"}
	cfg2 := testConfig("dc2-s1")
	cfg2.Datacenter, cfg2.Bootstrap = "dc2", true
	dc2 := startServer(t, cfg2, Deps{LANKeyring: lan2, WANKeyring: wan2})
	waitLeader(t, dc2)

	lan1, wan1 := &fakeKeyring{dc: "dc1"}, &fakeKeyring{wan: true, dc: "dc1"}
	cfg1 := testConfig("dc1-s1")
	cfg1.Bootstrap = true
	dc1 := startServer(t, cfg1, Deps{LANKeyring: lan1, WANKeyring: wan1,
		Forwarder: &dcForwarder{dcs: map[string]*Server{"dc2": dc2}}})
	waitLeader(t, dc1)

	var out structs.KeyringResponses
	rpc(t, dc1, structs.MethodKeyringOperation, &structs.KeyringRequest{Operation: structs.KeyringInstall, Key: "k"}, &out)
	if len(out.Responses) != 3 || !out.Responses[0].WAN || out.Responses[1].Datacenter != "dc1" || out.Responses[2].Datacenter != "dc2" ||
		out.Responses[1].WAN || out.Responses[2].WAN {
		t.Fatalf("responses %+v", out.Responses)
	}
	if wan1.count() != 1 || wan2.count() != 0 || lan1.count() != 1 || lan2.count() != 1 {
		t.Fatalf("ops: wan1=%d wan2=%d lan1=%d lan2=%d", wan1.count(), wan2.count(), lan1.count(), lan2.count())
	}

	out = structs.KeyringResponses{}
	rpc(t, dc1, structs.MethodKeyringOperation, &structs.KeyringRequest{Operation: structs.KeyringList, LocalOnly: true}, &out)
	if len(out.Responses) != 1 || out.Responses[0].Datacenter != "dc1" || out.Responses[0].WAN {
		t.Fatalf("local-only %+v", out.Responses)
	}

	for _, bad := range []*structs.KeyringRequest{
		{Operation: "rotate"},
		{Operation: structs.KeyringUse},
		{Operation: structs.KeyringRemove, Key: "k", LocalOnly: true},
		{Operation: structs.KeyringList, RelayFactor: 6},
	} {
		var be *structs.BadRequestError
		if err := dc1.RPC(context.Background(), structs.MethodKeyringOperation, bad, &structs.KeyringResponses{}); !errors.As(err, &be) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if err := devServer(t).RPC(context.Background(), structs.MethodKeyringOperation,
		&structs.KeyringRequest{Operation: structs.KeyringList}, &structs.KeyringResponses{}); !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("no keyring: %v", err)
	}
}
