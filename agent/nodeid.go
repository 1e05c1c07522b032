package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-uuid"

	"consulate/internal/atomicfile"
)

// nodeIDFile is where the node ID lives inside the data dir.
const nodeIDFile = "node-id"

// validUUID reports whether s has the 8-4-4-4-12 hex shape.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

// truncateForError shortens garbage quoted in an error message.
func truncateForError(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// resolveNodeID returns the node ID to use: the configured one, else the
// one saved in dataDir, else a new random one (saved when dataDir is set).
func resolveNodeID(configured, dataDir string) (string, error) {
	if configured != "" {
		if !validUUID(configured) {
			return "", fmt.Errorf("node-id %q is not a UUID", configured)
		}
		id := strings.ToLower(configured)
		if dataDir != "" {
			if err := writeFileAtomic(filepath.Join(dataDir, nodeIDFile), []byte(id)); err != nil {
				return "", err
			}
		}
		return id, nil
	}
	if dataDir != "" {
		path := filepath.Join(dataDir, nodeIDFile)
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			// As Consul: a damaged node-id file stops the agent rather
			// than giving the node a new identity behind the operator's
			// back (its old ID would linger in the catalog and Raft).
			id := strings.TrimSpace(string(b))
			if id == "" {
				return "", fmt.Errorf("node ID file %s is empty; delete it to get a new node ID, or restore the old one", path)
			}
			if !validUUID(id) {
				return "", fmt.Errorf("node ID file %s holds %q, which is not a UUID; delete it to get a new node ID, or restore the old one", path, truncateForError(id))
			}
			return strings.ToLower(id), nil
		case !errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("reading node ID file: %w", err)
		}
	}
	id, err := uuid.GenerateUUID()
	if err != nil {
		return "", err
	}
	if dataDir != "" {
		if err := writeFileAtomic(filepath.Join(dataDir, nodeIDFile), []byte(id)); err != nil {
			return "", err
		}
	}
	return id, nil
}

// writeFileAtomic replaces path with data (mode 0600) so that a crash
// leaves the old content or the new, never an empty or partial file.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, 0o600)
}
