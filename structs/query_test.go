package structs

import (
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// The agent cache's fields are local: they never cross the wire.
func TestCacheFieldsStayLocal(t *testing.T) {
	in := IndexedCheckServiceNodes{QueryMeta: QueryMeta{Index: 7, CacheHit: true, CacheAge: time.Minute}}
	req := ServiceSpecificRequest{ServiceName: "web", QueryOptions: QueryOptions{UseCache: true,
		MaxAge: time.Second, StaleIfError: time.Hour, MustRevalidate: true}}
	var buf []byte
	h := &codec.MsgpackHandle{}
	if err := codec.NewEncoderBytes(&buf, h).Encode(&in); err != nil {
		t.Fatal(err)
	}
	var out IndexedCheckServiceNodes
	if err := codec.NewDecoderBytes(buf, h).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Index != 7 || out.CacheHit || out.CacheAge != 0 {
		t.Fatalf("reply meta after the wire: %+v", out.QueryMeta)
	}
	buf = nil
	if err := codec.NewEncoderBytes(&buf, h).Encode(&req); err != nil {
		t.Fatal(err)
	}
	var r ServiceSpecificRequest
	if err := codec.NewDecoderBytes(buf, h).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if !r.UseCache || r.MaxAge != 0 || r.StaleIfError != 0 || r.MustRevalidate {
		t.Fatalf("request options after the wire: %+v", r.QueryOptions)
	}
}
