package gateway

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

func TestHeaderRoundTrip(t *testing.T) {
	h := &Header{Kind: KindProbe, Hops: 2, From: Advert{DC: "dc1", Gateways: []string{"127.0.31.21:8443"},
		Direct: []Reach{{DC: "dc2", Gateways: []string{"127.0.31.31:8443"}, RTT: time.Millisecond}}}}
	var buf bytes.Buffer
	if err := WriteHeader(&buf, h); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("after") // the stream's bytes: never read by ReadHeader
	got, err := ReadHeader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != h.Kind || got.Hops != 2 || got.From.DC != "dc1" || got.From.Direct[0].RTT != time.Millisecond {
		t.Fatalf("got %+v", got)
	}
	if buf.String() != "after" {
		t.Fatalf("ReadHeader read past the header: %q left", buf.String())
	}
	// A conn header carries no From.
	buf.Reset()
	WriteHeader(&buf, &Header{Kind: KindConn, DC: "dc2"})
	if bytes.Contains(buf.Bytes(), []byte("From")) {
		t.Errorf("empty From encoded: %s", buf.Bytes())
	}
}

func TestHeaderErrors(t *testing.T) {
	frame := func(body string) []byte {
		return append(binary.BigEndian.AppendUint16([]byte(Magic), uint16(len(body))), body...)
	}
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"magic":     {[]byte("CGW2\x00\x02{}"), ErrBadMagic},
		"too large": {binary.BigEndian.AppendUint16([]byte(Magic), MaxHeaderLen+1), ErrHeaderTooLarge},
		"json":      {frame("{"), ErrBadHeader},
		"kind":      {frame(`{"Kind":"x"}`), ErrBadHeader},
		"hops":      {frame(`{"Kind":"conn","Hops":-1}`), ErrBadHeader},
		"short":     {frame(`{"Kind":"conn"}`)[:9], io.ErrUnexpectedEOF},
		"empty":     {nil, io.EOF},
	} {
		if _, err := ReadHeader(bytes.NewReader(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	big := &Header{Kind: KindConn, Addr: string(make([]byte, MaxHeaderLen))}
	if err := WriteHeader(io.Discard, big); !errors.Is(err, ErrHeaderTooLarge) {
		t.Errorf("writing a too large header: %v", err)
	}
}

func TestStatusRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	st := &Status{OK: true, Info: &Info{DC: "dc2", Servers: []InfoServer{{Name: "s", Addr: "127.0.31.12:8300"}}}}
	if err := WriteStatus(&buf, st); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("x")
	got, err := ReadStatus(&buf)
	if err != nil || !got.OK || got.Info.DC != "dc2" || buf.String() != "x" {
		t.Fatalf("%+v %v %q", got, err, buf.String())
	}
	if _, err := ReadStatus(bytes.NewReader([]byte{0, 1, '{'})); !errors.Is(err, ErrBadStatus) {
		t.Errorf("bad status: %v", err)
	}
}

// FuzzReadHeader: any input gives a header or an error, never a panic,
// and never reads more than the frame it announces.
func FuzzReadHeader(f *testing.F) {
	var ok bytes.Buffer
	WriteHeader(&ok, &Header{Kind: KindConn, DC: "dc2", Addr: "127.0.31.12:8300", Next: "127.0.31.31:8443", Hops: 1})
	f.Add(ok.Bytes())
	ok.Reset()
	WriteHeader(&ok, &Header{Kind: KindProbe, From: Advert{DC: "dc1", Direct: []Reach{{DC: "dc3", RTT: 5}}}})
	f.Add(ok.Bytes())
	f.Add([]byte("CGW1\xff\xff"))
	f.Add([]byte("CGW1\x00\x04null"))
	f.Add([]byte("CGW1\x00\x0b{\"Hops\":1e9}"))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		h, err := ReadHeader(r)
		if err != nil {
			return
		}
		if h.Kind != KindConn && h.Kind != KindInfo && h.Kind != KindProbe || h.Hops < 0 {
			t.Fatalf("accepted %+v", h)
		}
		n := len(Magic) + 2 + int(binary.BigEndian.Uint16(in[len(Magic):]))
		if r.Len() != len(in)-n {
			t.Fatalf("read %d bytes of a %d-byte frame", len(in)-r.Len(), n)
		}
	})
}

// The frames fit at scale: a probe request naming maxFromGateways
// gateways (IPv6, the longest), and an answer's advert reaching 500
// datacenters.
func TestFramesFitAtScale(t *testing.T) {
	adv := Advert{DC: "datacenter-with-a-long-name"}
	for range maxFromGateways {
		adv.Gateways = append(adv.Gateways, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")
	}
	if err := WriteHeader(io.Discard, &Header{Kind: KindProbe, From: adv}); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		adv.Direct = append(adv.Direct, Reach{DC: fmt.Sprintf("dc%03d", i),
			Gateways: []string{"127.0.100.100:8443", "127.0.100.101:8443"}, RTT: 123456789})
	}
	adv.Gateways = adv.Gateways[:2]
	if err := WriteStatus(io.Discard, &Status{OK: true, Advert: &adv}); err != nil {
		t.Fatal(err)
	}
}
