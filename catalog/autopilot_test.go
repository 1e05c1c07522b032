package catalog

import (
	"bytes"
	"io"
	"testing"
	"time"

	"consulate/structs"
)

// The autopilot configuration: a CAS create only when none is stored, CAS
// on ModifyIndex, CreateIndex kept, and it survives snapshot and restore.
func TestAutopilotConfig(t *testing.T) {
	f := NewFSM(nil)
	st := f.State()
	if _, c, err := st.AutopilotConfig(nil); err != nil || c != nil {
		t.Fatalf("empty store: %v %v", c, err)
	}
	cfg := structs.AutopilotConfig{CleanupDeadServers: true, LastContactThreshold: 200 * time.Millisecond, MaxTrailingLogs: 250}
	if r := apply(t, f, 5, AutopilotSetType, &AutopilotSetRequest{Config: cfg, CAS: true}); r != true {
		t.Fatalf("CAS create: %v", r)
	}
	if r := apply(t, f, 6, AutopilotSetType, &AutopilotSetRequest{Config: cfg, CAS: true}); r != false {
		t.Fatalf("second CAS create: %v", r)
	}
	cfg.MaxTrailingLogs, cfg.ModifyIndex = 100, 4
	if r := apply(t, f, 7, AutopilotSetType, &AutopilotSetRequest{Config: cfg, CAS: true}); r != false {
		t.Fatalf("CAS with a stale index: %v", r)
	}
	cfg.ModifyIndex = 5
	if r := apply(t, f, 8, AutopilotSetType, &AutopilotSetRequest{Config: cfg, CAS: true}); r != true {
		t.Fatalf("CAS with the index: %v", r)
	}
	cfg.MinQuorum = 3
	if r := apply(t, f, 9, AutopilotSetType, &AutopilotSetRequest{Config: cfg}); r != true {
		t.Fatalf("plain set: %v", r)
	}
	idx, got, err := st.AutopilotConfig(nil)
	if err != nil || got == nil || idx != 9 || got.CreateIndex != 5 || got.ModifyIndex != 9 || got.MaxTrailingLogs != 100 || got.MinQuorum != 3 {
		t.Fatalf("stored %+v idx %d %v", got, idx, err)
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
	if _, c, _ := f2.State().AutopilotConfig(nil); c == nil || *c != *got {
		t.Fatalf("restored %+v, want %+v", c, got)
	}
}
