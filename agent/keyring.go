package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"consulate/config"
)

// keyringFile keeps the gossip key so a restart needs no -encrypt.
const keyringFile = "serf/local.keyring"

// loadKeyring returns the gossip key to use. A configured key wins and is
// saved in dataDir (atomically: a crash leaves the old key or the new
// one); without one, the key saved there is used, if any. A saved file
// that is empty or does not hold a key is an error naming the file: an
// agent that silently dropped its key would start unencrypted and be cut
// off from its cluster.
func loadKeyring(dataDir string, configured []byte) ([]byte, error) {
	if dataDir == "" {
		return configured, nil
	}
	path := filepath.Join(dataDir, keyringFile)
	if len(configured) > 0 {
		if err := writeFileAtomic(path, []byte(encodeKey(configured))); err != nil {
			return nil, fmt.Errorf("saving the gossip key: %w", err)
		}
		return configured, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the gossip keyring: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil, fmt.Errorf("gossip keyring file %s is empty; restore it, or start with -encrypt and the cluster's key", path)
	}
	key, err := config.ParseEncryptKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("gossip keyring file %s: %w; restore it, or start with -encrypt and the cluster's key", path, err)
	}
	return key, nil
}
