package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"testing"
	"time"

	"consulate/config"
	"consulate/structs"
)

// A keyring rotation through the server endpoint on one dev server:
// the WAN pool and the LAN pool both change.
func TestKeyringRotationThroughServer(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{4}, 32), bytes.Repeat([]byte{5}, 32)
	a := startAgent(t, testOpts(t, "127.0.0.110", ""), func(rt *config.Runtime) { rt.EncryptKey = k1 })
	h := &httpAgent{a: a}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op := func(o structs.KeyringOp, key []byte) []*structs.KeyringResponse {
		t.Helper()
		var out structs.KeyringResponses
		args := &structs.KeyringRequest{Operation: o}
		if key != nil {
			args.Key = base64.StdEncoding.EncodeToString(key)
		}
		if err := h.RPC(ctx, structs.MethodKeyringOperation, args, &out); err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		if len(out.Responses) != 2 || !out.Responses[0].WAN || out.Responses[1].WAN || out.Responses[1].Datacenter != "dc1" {
			t.Fatalf("%s: responses %+v", o, out.Responses)
		}
		for _, r := range out.Responses {
			if r.Error != "" || r.NumNodes != 1 {
				t.Fatalf("%s: %+v", o, r)
			}
		}
		return out.Responses
	}
	b64 := base64.StdEncoding.EncodeToString
	op(structs.KeyringInstall, k2)
	op(structs.KeyringUse, k2)
	op(structs.KeyringRemove, k1)
	for _, r := range op(structs.KeyringList, nil) {
		if len(r.Keys) != 1 || r.Keys[b64(k2)] != 1 || r.PrimaryKeys[b64(k2)] != 1 {
			t.Fatalf("after rotation: %+v", r)
		}
	}
}
