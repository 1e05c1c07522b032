package server

import (
	"bytes"
	"errors"
	"testing"

	"consulate/structs"
)

func TestSnapshotSaveRestore(t *testing.T) {
	s := devServer(t)
	for _, k := range []string{"a", "b", "c"} {
		kvApply(t, s, structs.KVSet, structs.DirEntry{Key: k, Value: []byte(k)})
	}
	var buf bytes.Buffer
	idx, err := s.SnapshotSave(&buf)
	if err != nil || idx == 0 {
		t.Fatalf("save: %d %v", idx, err)
	}
	saved := buf.Bytes()
	// Nothing new since: a second save still works.
	var again bytes.Buffer
	if _, err := s.SnapshotSave(&again); err != nil {
		t.Fatalf("second save: %v", err)
	}
	kvApply(t, s, structs.KVDeleteTree, structs.DirEntry{Key: ""})
	kvApply(t, s, structs.KVSet, structs.DirEntry{Key: "after", Value: []byte("x")})
	if err := s.SnapshotRestore(bytes.NewReader(saved)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	var list structs.IndexedDirEntries
	rpc(t, s, structs.MethodKVSList, &structs.KeyRequest{Key: ""}, &list)
	if len(list.Entries) != 3 {
		t.Fatalf("after restore: %d keys", len(list.Entries))
	}
	// Writes continue after a restore.
	kvApply(t, s, structs.KVSet, structs.DirEntry{Key: "d", Value: []byte("d")})

	corrupt := append([]byte(nil), saved...)
	corrupt[len(corrupt)/2] ^= 0xff
	var bad *structs.BadRequestError
	if err := s.SnapshotRestore(bytes.NewReader(corrupt)); !errors.As(err, &bad) {
		t.Fatalf("corrupt archive: %v", err)
	}
	if err := s.SnapshotRestore(bytes.NewReader([]byte("not a snapshot"))); !errors.As(err, &bad) {
		t.Fatalf("garbage: %v", err)
	}
}
