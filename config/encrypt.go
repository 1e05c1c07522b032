package config

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// ParseEncryptKey decodes a gossip key as `consul keygen` prints it:
// standard base64 of 16, 24 or 32 bytes (AES-128/192/256).
func ParseEncryptKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, invalid("the key is empty")
	}
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, invalid("the key is not valid base64: %v", err)
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, invalid("%s", fmt.Sprintf("the key must be 16, 24 or 32 bytes, got %d", len(k)))
}
