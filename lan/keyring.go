package lan

import (
	"context"

	"consulate/structs"
)

// KeyringOperation applies a keyring operation to every member of the LAN
// pool and reports it as Consul's per-pool answer (Error set when a
// member failed or did not answer).
func (p *Pool) KeyringOperation(ctx context.Context, op structs.KeyringOp, key string) *structs.KeyringResponse {
	r := p.Pool.KeyringResponse(ctx, op, key)
	r.Datacenter = p.cfg.Datacenter
	r.Segment = p.cfg.Segment
	return r
}
