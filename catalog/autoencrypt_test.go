package catalog

import (
	"bytes"
	"io"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

// The first CA stored wins; it survives a snapshot and restore, and the
// snapshot still verifies.
func TestAutoEncryptCA(t *testing.T) {
	f := NewFSM(nil)
	st := f.State()
	ws := memdb.NewWatchSet()
	if _, ca, err := st.AutoEncryptCA(ws); err != nil || ca != nil {
		t.Fatalf("empty store: %v %v", ca, err)
	}
	if r := apply(t, f, 1, AutoEncryptCASetType, &structs.AutoEncryptCA{CertPEM: "cert1", KeyPEM: "key1"}); r != true {
		t.Fatalf("first set: %v", r)
	}
	if ws.Watch(time.After(time.Second)) { // true: timed out
		t.Fatal("watch did not fire")
	}
	if r := apply(t, f, 2, AutoEncryptCASetType, &structs.AutoEncryptCA{CertPEM: "cert2", KeyPEM: "key2"}); r != false {
		t.Fatalf("second set: %v", r)
	}
	if r := apply(t, f, 3, AutoEncryptCASetType, &structs.AutoEncryptCA{CertPEM: "cert3"}); r == nil || r == true || r == false {
		t.Fatalf("CA without a key: %v", r)
	}
	idx, ca, err := st.AutoEncryptCA(nil)
	if err != nil || ca == nil || ca.CertPEM != "cert1" || ca.ID != structs.AutoEncryptCAID || idx != 1 {
		t.Fatalf("stored CA %+v idx %d %v", ca, idx, err)
	}

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink bufSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	if err := VerifySnapshot(sink.Bytes(), 0); err != nil {
		t.Fatalf("VerifySnapshot: %v", err)
	}
	f2 := NewFSM(nil)
	if err := f2.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if _, ca, _ := f2.State().AutoEncryptCA(nil); ca == nil || ca.CertPEM != "cert1" || ca.KeyPEM != "key1" {
		t.Fatalf("restored CA %+v", ca)
	}
}
