package catalog

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"

	"consulate/structs"
)

// snapshotVersion is written first in every snapshot stream.
const snapshotVersion = 1

// recordType tags each record of a snapshot stream.
type recordType uint8

const (
	recNode recordType = iota + 1
	recService
	recCheck
	recKV
	recTombstone
	recSession
	recCoordinate
	recIndex
	recEnd
	// recPreparedQuery comes after recEnd so earlier values keep their
	// meaning in existing snapshots.
	recPreparedQuery
	// recAutoEncryptCA is the auto-encrypt signing CA.
	recAutoEncryptCA
	// ACL state.
	recACLPolicy
	recACLRole
	recACLToken
	// recAutopilot is the autopilot configuration.
	recAutopilot
)

// snapshotHeader opens a snapshot stream.
type snapshotHeader struct {
	Version int
}

// snapshot is a point-in-time copy of the store waiting to be persisted.
type snapshot struct {
	db     *memdb.MemDB
	handle *codec.MsgpackHandle
}

var _ raft.FSMSnapshot = (*snapshot)(nil)

// snapTables lists what is persisted, in restore order (nodes before the
// rows that refer to them).
var snapTables = []struct {
	table string
	rec   recordType
}{
	{tableNodes, recNode}, {tableServices, recService}, {tableChecks, recCheck},
	{tableSessions, recSession}, {tableKVs, recKV}, {tableTombstones, recTombstone},
	{tableCoordinates, recCoordinate}, {tablePreparedQuery, recPreparedQuery}, {tableAutoEncryptCA, recAutoEncryptCA},
	{tableACLPolicies, recACLPolicy}, {tableACLRoles, recACLRole}, {tableACLTokens, recACLToken},
	{tableAutopilot, recAutopilot},
	{tableIndex, recIndex},
}

// Persist writes the stream: header, then (type, row) pairs, then recEnd.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := codec.NewEncoder(bw, s.handle)
	if err := enc.Encode(&snapshotHeader{Version: snapshotVersion}); err != nil {
		return fmt.Errorf("catalog: snapshot header: %w", err)
	}
	txn := s.db.Txn(false)
	defer txn.Abort()
	for _, t := range snapTables {
		it, err := txn.Get(t.table, "id")
		if err != nil {
			return fmt.Errorf("catalog: snapshot %s: %w", t.table, err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if err := enc.Encode(uint8(t.rec)); err != nil {
				return fmt.Errorf("catalog: snapshot %s: %w", t.table, err)
			}
			if err := enc.Encode(raw); err != nil {
				return fmt.Errorf("catalog: snapshot %s: %w", t.table, err)
			}
		}
	}
	if err := enc.Encode(uint8(recEnd)); err != nil {
		return fmt.Errorf("catalog: snapshot end: %w", err)
	}
	return bw.Flush()
}

// Release is a no-op: the memdb snapshot is garbage collected.
func (s *snapshot) Release() {}

// restoreStore reads a snapshot stream into a new store.
func restoreStore(r io.Reader, h *codec.MsgpackHandle) (*Store, error) {
	return decodeStore(codec.NewDecoder(bufio.NewReader(r), h), 0)
}

// decodeStore decodes a snapshot stream into a new store; maxRecords > 0
// bounds the number of records.
func decodeStore(dec *codec.Decoder, maxRecords int) (*Store, error) {
	st, err := NewStore()
	if err != nil {
		return nil, err
	}
	var hdr snapshotHeader
	if err := dec.Decode(&hdr); err != nil {
		return nil, fmt.Errorf("catalog: restore header: %w", err)
	}
	if hdr.Version != snapshotVersion {
		return nil, fmt.Errorf("catalog: restore: unsupported snapshot version %d", hdr.Version)
	}
	txn := st.db.Txn(true)
	defer txn.Abort()
	for n := 0; ; n++ {
		var rt uint8
		if err := dec.Decode(&rt); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("catalog: restore: snapshot truncated: %w", io.ErrUnexpectedEOF)
			}
			return nil, fmt.Errorf("catalog: restore: %w", err)
		}
		if recordType(rt) == recEnd {
			break
		}
		if maxRecords > 0 && n >= maxRecords {
			return nil, fmt.Errorf("%w: more than %d records", ErrSnapshotTooLarge, maxRecords)
		}
		if err := restoreRecord(txn, dec, recordType(rt)); err != nil {
			return nil, err
		}
	}
	txn.Commit()
	return st, nil
}

func restoreRecord(txn *memdb.Txn, dec *codec.Decoder, rt recordType) error {
	var row any
	table := ""
	switch rt {
	case recNode:
		row, table = &structs.Node{}, tableNodes
	case recService:
		row, table = &serviceRow{}, tableServices
	case recCheck:
		row, table = &structs.HealthCheck{}, tableChecks
	case recKV:
		row, table = &structs.DirEntry{}, tableKVs
	case recTombstone:
		row, table = &tombstone{}, tableTombstones
	case recSession:
		row, table = &structs.Session{}, tableSessions
	case recCoordinate:
		row, table = &structs.Coordinate{}, tableCoordinates
	case recIndex:
		row, table = &indexRow{}, tableIndex
	case recPreparedQuery:
		row, table = &structs.PreparedQuery{}, tablePreparedQuery
	case recAutoEncryptCA:
		row, table = &structs.AutoEncryptCA{}, tableAutoEncryptCA
	case recACLPolicy:
		row, table = &structs.ACLPolicy{}, tableACLPolicies
	case recACLRole:
		row, table = &structs.ACLRole{}, tableACLRoles
	case recACLToken:
		row, table = &structs.ACLToken{}, tableACLTokens
	case recAutopilot:
		row, table = &autopilotRow{}, tableAutopilot
	default:
		return fmt.Errorf("catalog: restore: unknown record type %d", rt)
	}
	if err := dec.Decode(row); err != nil {
		return fmt.Errorf("catalog: restore %s: %w", table, err)
	}
	if ca, ok := row.(*structs.AutoEncryptCA); ok && (ca.ID != structs.AutoEncryptCAID || ca.CertPEM == "" || ca.KeyPEM == "") {
		return fmt.Errorf("catalog: restore %s: incomplete auto-encrypt CA", table)
	}
	if sr, ok := row.(*serviceRow); ok && sr.NS == nil {
		return fmt.Errorf("catalog: restore %s: service row without service", table)
	}
	if err := checkACLRow(txn, row); err != nil {
		return fmt.Errorf("catalog: restore %s: %w", table, err)
	}
	if err := txn.Insert(table, row); err != nil {
		return fmt.Errorf("catalog: restore %s: %w", table, err)
	}
	if sess, ok := row.(*structs.Session); ok {
		ids := append([]string(nil), sess.NodeChecks...)
		for _, sc := range sess.ServiceChecks {
			ids = append(ids, sc.ID)
		}
		for _, cid := range ids {
			if err := txn.Insert(tableSessionChecks, &sessionCheck{Node: sess.Node, CheckID: cid, Session: sess.ID}); err != nil {
				return fmt.Errorf("catalog: restore session checks: %w", err)
			}
		}
	}
	return nil
}
