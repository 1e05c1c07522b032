package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"

	"consulate/structs"
)

func TestChooseLogStore(t *testing.T) {
	fresh := t.TempDir()
	bolt := t.TempDir()
	if err := os.WriteFile(filepath.Join(bolt, "raft.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	walDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(walDir, "wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(walDir, "wal", "wal-meta.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want, dir, got string
		bad                  bool
	}{
		{"auto, new dir: BoltDB", LogStoreAuto, fresh, LogStoreBoltDB, false},
		{"auto keeps BoltDB", LogStoreAuto, bolt, LogStoreBoltDB, false},
		{"auto keeps the WAL", LogStoreAuto, walDir, LogStoreWAL, false},
		{"boltdb, new dir", LogStoreBoltDB, fresh, LogStoreBoltDB, false},
		{"wal, new dir", LogStoreWAL, fresh, LogStoreWAL, false},
		{"wal over a BoltDB log", LogStoreWAL, bolt, "", true},
		{"boltdb over a WAL log", LogStoreBoltDB, walDir, "", true},
	} {
		got, err := chooseLogStore(tc.want, tc.dir)
		if tc.bad {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("%s: err = %v, want ErrInvalidConfig", tc.name, err)
			}
			continue
		}
		if err != nil || got != tc.got {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.got)
		}
	}
	cfg := testConfig("s1")
	cfg.RaftLogStore = "leveldb"
	if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("unknown store: %v", err)
	}
}

// Both stores keep the data over a restart.
func TestRestartEachLogStore(t *testing.T) {
	for _, store := range []string{LogStoreBoltDB, LogStoreWAL} {
		t.Run(store, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig("s1")
			cfg.DataDir, cfg.Bootstrap, cfg.RaftLogStore = dir, true, store
			s1, err := New(cfg, Deps{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s1.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitLeader(t, s1)
			kvApply(t, s1, structs.KVSet, structs.DirEntry{Key: "keep", Value: []byte(store)})
			addr := s1.LocalAddr()
			if err := s1.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			_, trans := raft.NewInmemTransport(addr)
			s2 := startServer(t, cfg, Deps{Transport: trans})
			waitLeader(t, s2)
			var got structs.IndexedDirEntries
			rpc(t, s2, structs.MethodKVSGet, &structs.KeyRequest{Key: "keep"}, &got)
			if len(got.Entries) != 1 || string(got.Entries[0].Value) != store {
				t.Fatalf("after restart: %+v", got.Entries)
			}
			want := map[string]string{LogStoreBoltDB: "raft.db", LogStoreWAL: "wal"}[store]
			if _, err := os.Stat(filepath.Join(dir, "raft", want)); err != nil {
				t.Fatalf("%s store left no %s: %v", store, want, err)
			}
		})
	}
}
