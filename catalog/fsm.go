package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"

	"consulate/structs"
)

// MessageType is the first byte of every Raft log entry the FSM applies.
type MessageType uint8

// Message types. Values are part of the on-disk log format: append only.
const (
	RegisterRequestType MessageType = iota
	DeregisterRequestType
	KVSRequestType
	SessionRequestType
	TxnRequestType
	CoordinateBatchUpdateType
	PreparedQueryRequestType
	TombstoneReapType
	// AutoEncryptCASetType stores the auto-encrypt signing CA
	// (structs.AutoEncryptCA) unless one exists already.
	AutoEncryptCASetType
	// ACL state (catalog/acl.go): batches of tokens, policies and roles,
	// and the bootstrap token.
	ACLTokenSetType
	ACLTokenDeleteType
	ACLPolicySetType
	ACLPolicyDeleteType
	ACLRoleSetType
	ACLRoleDeleteType
	ACLBootstrapType
	// ACLReplicateType applies one batch of ACL replication from the
	// primary datacenter (ACLReplicateRequest, catalog/acl_replication.go).
	ACLReplicateType
	// AutopilotSetType stores the autopilot configuration
	// (AutopilotSetRequest); it returns whether it wrote.
	AutopilotSetType
)

func (t MessageType) String() string {
	switch t {
	case RegisterRequestType:
		return "Register"
	case DeregisterRequestType:
		return "Deregister"
	case KVSRequestType:
		return "KVS"
	case SessionRequestType:
		return "Session"
	case TxnRequestType:
		return "Txn"
	case CoordinateBatchUpdateType:
		return "CoordinateBatchUpdate"
	case PreparedQueryRequestType:
		return "PreparedQuery"
	case TombstoneReapType:
		return "TombstoneReap"
	case AutoEncryptCASetType:
		return "AutoEncryptCASet"
	case ACLTokenSetType:
		return "ACLTokenSet"
	case ACLTokenDeleteType:
		return "ACLTokenDelete"
	case ACLPolicySetType:
		return "ACLPolicySet"
	case ACLPolicyDeleteType:
		return "ACLPolicyDelete"
	case ACLRoleSetType:
		return "ACLRoleSet"
	case ACLRoleDeleteType:
		return "ACLRoleDelete"
	case ACLBootstrapType:
		return "ACLBootstrap"
	case ACLReplicateType:
		return "ACLReplicate"
	case AutopilotSetType:
		return "AutopilotSet"
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// ErrUnknownMessage is returned by Apply for a log entry it cannot read.
var ErrUnknownMessage = errors.New("catalog: unknown raft message type")

// msgpackHandle is the codec for log entries and snapshots.
func msgpackHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.RawToString = true
	h.WriteExt = true
	return h
}

// Encode frames msg as a Raft log entry: the type byte, then msgpack.
func Encode(t MessageType, msg any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(byte(t))
	if err := codec.NewEncoder(&buf, msgpackHandle()).Encode(msg); err != nil {
		return nil, fmt.Errorf("catalog: encode %s: %w", t, err)
	}
	return buf.Bytes(), nil
}

// FSM is the Raft state machine of the catalog. Apply, Snapshot and
// Restore are called by Raft only; State may be called by anyone.
type FSM struct {
	logger *slog.Logger
	handle *codec.MsgpackHandle

	// stateLock guards state, which Restore replaces.
	stateLock sync.RWMutex
	state     *Store
}

var _ raft.FSM = (*FSM)(nil)

// NewFSM returns an FSM over an empty store.
func NewFSM(logger *slog.Logger) *FSM {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st, err := NewStore()
	if err != nil {
		// The schema is static; failing here is a programming error.
		panic(err)
	}
	return &FSM{logger: logger.With("component", "catalog.fsm"), handle: msgpackHandle(), state: st}
}

// State returns the current store. Hold on to it only for one read: a
// restore replaces it (and closes its AbandonCh).
func (f *FSM) State() *Store {
	f.stateLock.RLock()
	defer f.stateLock.RUnlock()
	return f.state
}

func (f *FSM) decode(buf []byte, out any) error {
	return codec.NewDecoderBytes(buf, f.handle).Decode(out)
}

// Apply applies one committed log entry. It returns an error, a bool for
// conditional KV writes, a *structs.TxnResponse for transactions, or nil.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand || len(l.Data) == 0 {
		return nil
	}
	t, body, idx := MessageType(l.Data[0]), l.Data[1:], l.Index
	st := f.State()
	switch t {
	case RegisterRequestType:
		var req structs.RegisterRequest
		if err := f.decode(body, &req); err != nil {
			return f.decodeErr(t, err)
		}
		return errOrNil(st.EnsureRegistration(idx, &req))
	case DeregisterRequestType:
		var req structs.DeregisterRequest
		if err := f.decode(body, &req); err != nil {
			return f.decodeErr(t, err)
		}
		return errOrNil(st.Deregister(idx, &req))
	case KVSRequestType:
		var req structs.KVSRequest
		if err := f.decode(body, &req); err != nil {
			return f.decodeErr(t, err)
		}
		return applyKVS(st, idx, &req)
	case SessionRequestType:
		var req structs.SessionRequest
		if err := f.decode(body, &req); err != nil {
			return f.decodeErr(t, err)
		}
		switch req.Op {
		case structs.SessionCreate:
			return errOrNil(st.SessionCreate(idx, &req.Session))
		case structs.SessionDestroy:
			_, err := st.SessionDestroy(idx, req.Session.ID)
			return errOrNil(err)
		}
		return fmt.Errorf("%w: unknown session op %q", ErrInvalidRequest, req.Op)
	case TxnRequestType:
		var req structs.TxnRequest
		if err := f.decode(body, &req); err != nil {
			return f.decodeErr(t, err)
		}
		return st.Txn(idx, req.Ops)
	case CoordinateBatchUpdateType:
		var req structs.Coordinates
		if err := f.decode(body, &req); err != nil {
			return f.decodeErr(t, err)
		}
		return errOrNil(st.CoordinateBatchUpdate(idx, req))
	case PreparedQueryRequestType:
		var req structs.PreparedQueryRequest
		if err := f.decode(body, &req); err != nil {
			return f.decodeErr(t, err)
		}
		return errOrNil(st.PreparedQueryApply(idx, &req))
	case TombstoneReapType:
		var req structs.TombstoneReapRequest
		if err := f.decode(body, &req); err != nil {
			return f.decodeErr(t, err)
		}
		return errOrNil(st.ReapTombstones(req.ReapIndex))
	case AutoEncryptCASetType:
		var req structs.AutoEncryptCA
		if err := f.decode(body, &req); err != nil {
			return f.decodeErr(t, err)
		}
		ok, err := st.AutoEncryptCASet(idx, &req)
		if err != nil {
			return err
		}
		return ok
	case AutopilotSetType:
		var req AutopilotSetRequest
		if err := f.decode(body, &req); err != nil {
			return f.decodeErr(t, err)
		}
		ok, err := st.AutopilotSet(idx, &req.Config, req.CAS)
		if err != nil {
			return err
		}
		return ok
	case ACLTokenSetType, ACLTokenDeleteType, ACLPolicySetType, ACLPolicyDeleteType,
		ACLRoleSetType, ACLRoleDeleteType, ACLBootstrapType, ACLReplicateType:
		return f.applyACL(st, t, body, idx)
	}
	f.logger.Error("unknown message type in raft log", "type", uint8(t), "index", idx)
	return fmt.Errorf("%w: %d", ErrUnknownMessage, uint8(t))
}

// applyACL applies the ACL message types; each returns an error or nil.
func (f *FSM) applyACL(st *Store, t MessageType, body []byte, idx uint64) any {
	var msg any
	var run func() error
	switch t {
	case ACLTokenSetType:
		req := &ACLTokenBatchSetRequest{}
		msg, run = req, func() error { return st.ACLTokenBatchSet(idx, req) }
	case ACLTokenDeleteType:
		req := &ACLTokenBatchDeleteRequest{}
		msg, run = req, func() error { return st.ACLTokenBatchDelete(idx, req) }
	case ACLPolicySetType:
		req := &ACLPolicyBatchSetRequest{}
		msg, run = req, func() error { return st.ACLPolicyBatchSet(idx, req) }
	case ACLPolicyDeleteType:
		req := &ACLPolicyBatchDeleteRequest{}
		msg, run = req, func() error { return st.ACLPolicyBatchDelete(idx, req) }
	case ACLRoleSetType:
		req := &ACLRoleBatchSetRequest{}
		msg, run = req, func() error { return st.ACLRoleBatchSet(idx, req) }
	case ACLRoleDeleteType:
		req := &ACLRoleBatchDeleteRequest{}
		msg, run = req, func() error { return st.ACLRoleBatchDelete(idx, req) }
	case ACLReplicateType:
		req := &ACLReplicateRequest{}
		msg, run = req, func() error { return st.ACLReplicate(idx, req) }
	default:
		req := &ACLBootstrapRequest{}
		msg, run = req, func() error { return st.ACLBootstrap(idx, req) }
	}
	if err := f.decode(body, msg); err != nil {
		return f.decodeErr(t, err)
	}
	return errOrNil(run())
}

// errOrNil keeps a nil error from becoming a non-nil interface value.
func errOrNil(err error) any {
	if err == nil {
		return nil
	}
	return err
}

func (f *FSM) decodeErr(t MessageType, err error) error {
	f.logger.Error("failed to decode raft log entry", "type", t.String(), "error", err)
	return fmt.Errorf("catalog: decode %s: %w", t, err)
}

func applyKVS(st *Store, idx uint64, req *structs.KVSRequest) any {
	e := req.DirEnt
	var ok bool
	var err error
	switch req.Op {
	case structs.KVSet:
		return errOrNil(st.KVSet(idx, &e))
	case structs.KVDelete:
		return errOrNil(st.KVDelete(idx, e.Key))
	case structs.KVDeleteTree:
		return errOrNil(st.KVDeleteTree(idx, e.Key))
	case structs.KVCAS:
		ok, err = st.KVCAS(idx, &e)
	case structs.KVDeleteCAS:
		ok, err = st.KVDeleteCAS(idx, e.ModifyIndex, e.Key)
	case structs.KVLock:
		ok, err = st.KVLock(idx, &e)
	case structs.KVUnlock:
		ok, err = st.KVUnlock(idx, &e)
	default:
		return fmt.Errorf("%w: unknown KV op %q", ErrInvalidRequest, req.Op)
	}
	if err != nil {
		return err
	}
	return ok
}

// Snapshot captures the current state; Persist writes it later, outside
// Raft's apply loop.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	st := f.State()
	return &snapshot{db: st.db.Snapshot(), handle: f.handle}, nil
}

// Restore replaces the state with a snapshot's, then closes the old
// store's AbandonCh so blocked reads re-run against the new one.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := restoreStore(rc, f.handle)
	if err != nil {
		return err
	}
	f.stateLock.Lock()
	old := f.state
	f.state = st
	f.stateLock.Unlock()
	old.Abandon()
	return nil
}
