package agent

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"consulate/internal/atomicfile"
)

// nodeIDFile is where the node ID lives inside the data dir.
const nodeIDFile = "node-id"

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

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
	id, err := newUUID()
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
