package gossip

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/memberlist"

	"consulate/internal/atomicfile"
	"consulate/structs"
)

// KeyringOperation is one of the four keyring operations.
type KeyringOperation string

// Keyring operations, as Consul names them.
const (
	KeyringList    KeyringOperation = "list"
	KeyringInstall KeyringOperation = "install"
	KeyringUse     KeyringOperation = "use"
	KeyringRemove  KeyringOperation = "remove"
)

// ErrKeyring is wrapped by KeyringOp's error when a member failed or did
// not answer; the result is returned with it.
var ErrKeyring = errors.New("gossip: keyring operation failed")

// keyringQueryName is the internal query carrying keyring operations.
const keyringQueryName = "_consulate_keyring"

// KeyringResult is what the members of a pool answered to a keyring
// operation: how many hold each key (base64) and use each as primary.
type KeyringResult struct {
	Keys        map[string]int
	PrimaryKeys map[string]int
	// NumNodes is the number of members alive when the query was sent.
	NumNodes int
	// NumResp is how many answered, NumErr how many of them failed.
	NumResp, NumErr int
	// Messages is each failed member's error.
	Messages map[string]string
}

type keyringRequest struct {
	Op  KeyringOperation
	Key []byte
}

type keyringResponse struct {
	Keys    []string // base64, the primary first
	Primary string
	Error   string
}

// KeyringOp applies a keyring operation to every member of the pool (key
// is base64, unused for list) through an internal query, and counts what
// they answer. Each member changes its own keyring and saves it to its
// KeyringFile. The error wraps ErrKeyring when a member failed or did not
// answer in time; the result is returned then too.
func (p *Pool) KeyringOp(ctx context.Context, op KeyringOperation, key string) (*KeyringResult, error) {
	req := keyringRequest{Op: op}
	switch op {
	case KeyringList:
	case KeyringInstall, KeyringUse, KeyringRemove:
		k, err := base64.StdEncoding.DecodeString(key)
		if err != nil {
			return nil, fmt.Errorf("gossip: invalid key: %w", err)
		}
		if err := memberlist.ValidateKey(k); err != nil {
			return nil, fmt.Errorf("gossip: invalid key: %w", err)
		}
		req.Key = k
	default:
		return nil, fmt.Errorf("gossip: unknown keyring operation %q", op)
	}
	raw, err := encodeBody(&req)
	if err != nil {
		return nil, err
	}
	answers, expected, err := p.query(ctx, keyringQueryName, raw, 0)
	if answers == nil {
		return nil, err
	}
	res := &KeyringResult{
		Keys: map[string]int{}, PrimaryKeys: map[string]int{}, Messages: map[string]string{},
		NumNodes: len(expected), NumResp: len(answers),
	}
	for from, payload := range answers {
		var r keyringResponse
		if derr := decodeMessage(payload, &r); derr != nil {
			res.NumErr++
			res.Messages[from] = "unreadable answer: " + derr.Error()
			continue
		}
		if r.Error != "" {
			res.NumErr++
			res.Messages[from] = r.Error
		}
		for _, k := range r.Keys {
			res.Keys[k]++
		}
		if r.Primary != "" {
			res.PrimaryKeys[r.Primary]++
		}
	}
	if res.NumResp > res.NumNodes {
		res.NumNodes = res.NumResp
	}
	// Success means every member alive when the query went out answered:
	// answers from members that joined since do not stand in for a
	// silent one (a later use or remove would cut that one off).
	missing := 0
	for _, name := range expected {
		if _, ok := answers[name]; !ok {
			missing++
			res.Messages[name] = "no answer"
		}
	}
	if err != nil {
		return res, err
	}
	if res.NumErr > 0 {
		return res, fmt.Errorf("%w: %d/%d nodes reported failure", ErrKeyring, res.NumErr, res.NumNodes)
	}
	if missing > 0 || res.NumResp < res.NumNodes {
		return res, fmt.Errorf("%w: %d/%d nodes reported success", ErrKeyring, res.NumResp-res.NumErr, res.NumNodes)
	}
	return res, nil
}

// LocalKeys lists this member's own keyring (base64, the primary first)
// and primary key, as `keyring -list -local-only` shows it.
func (p *Pool) LocalKeys() (keys []string, primary string) {
	for _, k := range p.keyring.GetKeys() {
		keys = append(keys, base64.StdEncoding.EncodeToString(k))
	}
	if pk := p.keyring.GetPrimaryKey(); len(pk) > 0 {
		primary = base64.StdEncoding.EncodeToString(pk)
	}
	return keys, primary
}

func (p *Pool) keyringQueryHandler(payload []byte) []byte {
	var req keyringRequest
	var resp keyringResponse
	if err := decodeMessage(payload, &req); err != nil {
		resp.Error = "bad keyring request: " + err.Error()
	} else if err := p.applyKeyring(req.Op, req.Key); err != nil {
		resp.Error = err.Error()
	}
	resp.Keys, resp.Primary = p.LocalKeys()
	raw, err := encodeBody(&resp)
	if err != nil {
		p.logger.Warn("encoding keyring answer", "error", err)
		return nil
	}
	return raw
}

// applyKeyring changes this member's keyring and saves it. An empty
// keyring (gossip not encrypted) accepts an install only while outgoing
// verification is off, so that installing a key never starts encrypting
// towards members that cannot decrypt yet.
func (p *Pool) applyKeyring(op KeyringOperation, key []byte) error {
	p.keyringLock.Lock()
	defer p.keyringLock.Unlock()
	kr := p.keyring
	empty := len(kr.GetKeys()) == 0
	switch op {
	case KeyringList:
		if empty {
			return keyringMsg("Keyring is empty (encryption not enabled)")
		}
		return nil
	case KeyringInstall:
		// A first key is only safe with both verifications off: with
		// incoming verification on, this member would drop the plaintext
		// its peers still send, and fall out of the pool.
		if empty && (!p.cfg.DisableVerifyOutgoing || !p.cfg.DisableVerifyIncoming) {
			return keyringMsg("No keyring to modify (encryption not enabled; set encrypt_verify_incoming = false and encrypt_verify_outgoing = false to install a first key)")
		}
		for _, k := range kr.GetKeys() {
			if bytes.Equal(k, key) {
				return nil
			}
		}
		if err := kr.AddKey(key); err != nil {
			return err
		}
		p.logger.Info("installed gossip encryption key")
	case KeyringUse:
		if bytes.Equal(kr.GetPrimaryKey(), key) {
			return nil
		}
		if err := kr.UseKey(key); err != nil {
			return err
		}
		p.logger.Info("changed primary gossip encryption key")
	case KeyringRemove:
		if empty {
			return keyringMsg("No keyring to modify (encryption not enabled)")
		}
		if bytes.Equal(kr.GetPrimaryKey(), key) {
			return keyringMsg("Removing the primary key is not allowed")
		}
		found := false
		for _, k := range kr.GetKeys() {
			found = found || bytes.Equal(k, key)
		}
		if !found {
			return nil
		}
		if err := kr.RemoveKey(key); err != nil {
			return err
		}
		p.logger.Info("removed gossip encryption key")
	default:
		return fmt.Errorf("unknown keyring operation %q", op)
	}
	if p.cfg.KeyringFile == "" {
		return nil
	}
	if err := WriteKeyringFile(p.cfg.KeyringFile, kr.GetKeys()); err != nil {
		return keyringMsg("Failed to write keyring file: " + err.Error())
	}
	return nil
}

// keyringMsg is a member's answer to a keyring operation, in serf's and
// Consul's words (capitalized, as operators see them).
type keyringMsg string

func (m keyringMsg) Error() string { return string(m) }

// WriteKeyringFile saves keys (the primary first) atomically, as Consul's
// keyring file: a JSON array of base64 keys, mode 0600.
func WriteKeyringFile(path string, keys [][]byte) error {
	enc := make([]string, 0, len(keys))
	for _, k := range keys {
		enc = append(enc, base64.StdEncoding.EncodeToString(k))
	}
	b, err := json.Marshal(enc)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600)
}

// ReadKeyringFile loads a keyring file: Consul's JSON array of base64
// keys (the primary first), or a single base64 key (what earlier
// Consulate versions wrote). A missing file gives os.ErrNotExist; an
// empty or damaged one an error naming the file.
func ReadKeyringFile(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := strings.TrimSpace(string(b))
	if text == "" {
		return nil, fmt.Errorf("keyring file %s is empty", path)
	}
	var enc []string
	if strings.HasPrefix(text, "[") {
		if err := json.Unmarshal([]byte(text), &enc); err != nil {
			return nil, fmt.Errorf("keyring file %s: %w", path, err)
		}
	} else {
		enc = []string{text}
	}
	if len(enc) == 0 {
		return nil, fmt.Errorf("keyring file %s holds no key", path)
	}
	keys := make([][]byte, 0, len(enc))
	for i, s := range enc {
		k, err := base64.StdEncoding.DecodeString(s)
		if err == nil {
			err = memberlist.ValidateKey(k)
		}
		if err != nil {
			return nil, fmt.Errorf("keyring file %s: key %d: %w", path, i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// KeyringResponse runs KeyringOp and shapes the outcome as Consul's
// per-pool answer; the caller sets WAN, Datacenter and Segment.
func (p *Pool) KeyringResponse(ctx context.Context, op structs.KeyringOp, key string) *structs.KeyringResponse {
	res, err := p.KeyringOp(ctx, KeyringOperation(op), key)
	out := &structs.KeyringResponse{Keys: map[string]int{}, PrimaryKeys: map[string]int{}}
	if res != nil {
		out.Keys, out.PrimaryKeys, out.NumNodes = res.Keys, res.PrimaryKeys, res.NumNodes
		if len(res.Messages) > 0 {
			out.Messages = res.Messages
		}
	}
	if err != nil {
		out.Error = strings.TrimPrefix(err.Error(), ErrKeyring.Error()+": ")
	}
	return out
}
