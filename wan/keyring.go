package wan

import (
	"context"

	"consulate/structs"
)

// KeyringOperation applies a keyring operation to every server of the WAN
// pool and reports it as Consul's per-pool answer (WAN set; Error set
// when a member failed or did not answer).
func (p *Pool) KeyringOperation(ctx context.Context, op structs.KeyringOp, key string) *structs.KeyringResponse {
	r := p.Pool.KeyringResponse(ctx, op, key)
	r.WAN = true
	r.Datacenter = p.cfg.Datacenter
	return r
}
