package gossip

import (
	"bytes"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/coordinate"
)

// coordinateVersion prefixes ping payloads so the format can change.
const coordinateVersion byte = 0

// Coordinate returns this node's network coordinate, or nil when
// coordinates are disabled.
func (p *Pool) Coordinate() *coordinate.Coordinate {
	if p.coordClient == nil {
		return nil
	}
	return p.coordClient.GetCoordinate()
}

// GetCachedCoordinate returns the last coordinate heard from a member (or
// this node's own).
func (p *Pool) GetCachedCoordinate(name string) (*coordinate.Coordinate, bool) {
	if p.coordClient == nil {
		return nil, false
	}
	if name == p.cfg.NodeName {
		return p.coordClient.GetCoordinate(), true
	}
	p.coordLock.RLock()
	defer p.coordLock.RUnlock()
	c, ok := p.coordCache[name]
	if !ok {
		return nil, false
	}
	return c.Clone(), true
}

func (p *Pool) coordinatePayload() []byte {
	if p.coordClient == nil {
		return nil
	}
	var buf bytes.Buffer
	buf.WriteByte(coordinateVersion)
	if err := codec.NewEncoder(&buf, msgpackHandle()).Encode(p.coordClient.GetCoordinate()); err != nil {
		p.logger.Error("could not encode coordinate", "error", err)
		return nil
	}
	return buf.Bytes()
}

func (p *Pool) pingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	if p.coordClient == nil || len(payload) == 0 {
		return
	}
	if payload[0] != coordinateVersion {
		p.logger.Debug("unknown coordinate version in ping", "node", other.Name, "version", payload[0])
		return
	}
	var c coordinate.Coordinate
	if err := decodeMessage(payload[1:], &c); err != nil {
		p.logger.Debug("bad coordinate in ping", "node", other.Name, "error", err)
		return
	}
	if _, err := p.coordClient.Update(other.Name, &c, rtt); err != nil {
		p.logger.Debug("coordinate update rejected", "node", other.Name, "error", err)
		return
	}
	p.coordLock.Lock()
	p.coordCache[other.Name] = &c
	p.coordLock.Unlock()
}
