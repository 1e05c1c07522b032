package rpcmux

import (
	"fmt"
	"testing"

	"consulate/structs"
)

func fiftyNodes() *structs.IndexedServiceNodes {
	r := &structs.IndexedServiceNodes{}
	for i := range 50 {
		r.ServiceNodes = append(r.ServiceNodes, &structs.ServiceNode{
			ID: fmt.Sprintf("id-%d", i), Node: fmt.Sprintf("web-node-%d", i), Address: fmt.Sprintf("10.1.0.%d", i),
			Datacenter: "dc2", ServiceID: fmt.Sprintf("web-%d", i), ServiceName: "web", ServicePort: 8080,
		})
	}
	r.Index = 100
	return r
}

// BenchmarkRelayDecodeEncode is what a relaying server spends on a
// 50-instance catalog reply when it decodes and re-encodes it.
func BenchmarkRelayDecodeEncode(b *testing.B) {
	c := newWireCodec(DefaultConfig().MaxMessageSize)
	buf, err := c.encodeFrame(&responseHeader{Seq: 1}, fiftyNodes())
	if err != nil {
		b.Fatal(err)
	}
	frame := append([]byte(nil), buf.Bytes()[frameLenSize:]...)
	b.Logf("frame %d bytes", len(frame))
	b.ReportAllocs()
	for b.Loop() {
		dec := c.decoder(frame)
		var rh responseHeader
		var out structs.IndexedServiceNodes
		_ = dec.decode(&rh)
		if err := dec.decode(&out); err != nil {
			b.Fatal(err)
		}
		dec.release()
		ob, err := c.encodeFrame(&responseHeader{Seq: 2}, &out)
		if err != nil {
			b.Fatal(err)
		}
		c.putBuf(ob)
	}
}
