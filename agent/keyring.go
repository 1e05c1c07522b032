package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"consulate/gossip"
	"consulate/structs"
)

// The gossip keyrings, as Consul keeps them: one file per pool, each a
// JSON array of base64 keys with the primary first. The pools rewrite
// them after every keyring operation, so a restart keeps the keys
// installed, used and removed since.
const (
	keyringFile    = "serf/local.keyring"  // LAN
	keyringFileWAN = "serf/remote.keyring" // WAN (servers)
)

// loadKeyring returns one pool's keys, the primary first, from the file
// rel in dataDir, and a warning to log (or ""). As Consul does: on the
// first start (no file yet) a configured key is the keyring and is saved;
// once the file exists it wins, and a configured key it lacks is ignored
// with a warning (the keyring commands changed the keys since). Without
// a data dir the configured key alone is used. A file that is empty or
// damaged is an error naming it: an agent that silently dropped its keys
// would start unencrypted and be cut off from its cluster.
func loadKeyring(dataDir, rel string, configured []byte) ([][]byte, string, error) {
	if dataDir == "" {
		if len(configured) == 0 {
			return nil, "", nil
		}
		return [][]byte{configured}, "", nil
	}
	path := filepath.Join(dataDir, rel)
	keys, err := gossip.ReadKeyringFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(configured) == 0 {
			return nil, "", nil
		}
		if err := gossip.WriteKeyringFile(path, [][]byte{configured}); err != nil {
			return nil, "", fmt.Errorf("saving the gossip keyring %s: %w", path, err)
		}
		return [][]byte{configured}, "", nil
	case err != nil:
		return nil, "", fmt.Errorf("gossip %w; restore it, or remove it and start with -encrypt and the cluster's key", err)
	}
	warn := ""
	if len(configured) > 0 && !bytes.Equal(keys[0], configured) {
		warn = fmt.Sprintf("keyring %s exists and -encrypt gives another primary key; using the keyring", path)
	}
	return keys, warn, nil
}

// resolveKeyrings loads the LAN and (servers) WAN keyrings.
func (a *Agent) resolveKeyrings() error {
	var warn string
	var err error
	// The configured key seeds both keyrings; cfg.EncryptKey is set below
	// to the LAN primary, which must not seed the WAN keyring.
	configured := a.cfg.EncryptKey
	a.lanKeys, warn, err = loadKeyring(a.dataDir(), keyringFile, configured)
	if err != nil {
		return err
	}
	if warn != "" {
		a.logger.Warn(warn)
	}
	if len(a.lanKeys) > 0 {
		// Encryption is on even when only the keyring file has the key.
		a.cfg.EncryptKey = a.lanKeys[0]
	}
	if !a.cfg.ServerMode {
		return nil
	}
	a.wanKeys, warn, err = loadKeyring(a.dataDir(), keyringFileWAN, configured)
	if err != nil {
		return err
	}
	if warn != "" {
		a.logger.Warn(warn)
	}
	return nil
}

// applyKeyring gives a pool's gossip config its keys and keyring file.
func (a *Agent) applyKeyring(g *gossip.Config, keys [][]byte, rel string) {
	g.SecretKey, g.Keys = nil, nil
	if len(keys) > 0 {
		g.SecretKey, g.Keys = keys[0], keys[1:]
	}
	if dir := a.dataDir(); dir != "" {
		g.KeyringFile = filepath.Join(dir, rel)
	}
}

// wanKeyring applies a keyring operation to the WAN pool for the server
// (which starts before the WAN pool); nil without one.
func (a *Agent) wanKeyring(ctx context.Context, op structs.KeyringOp, key string) *structs.KeyringResponse {
	if a.wan == nil {
		return nil
	}
	return a.wan.KeyringOperation(ctx, op, key)
}
