package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/urfave/cli/v2"
)

// gossipKeyLen is the size of a gossip encryption key: AES-256.
const gossipKeyLen = 32

func (e *env) keygenCommand() *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "Generates a new encryption key",
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			key := make([]byte, gossipKeyLen)
			if _, err := rand.Read(key); err != nil {
				return fmt.Errorf("Error reading random data: %w", err)
			}
			fmt.Fprintln(e.stdout, base64.StdEncoding.EncodeToString(key))
			return nil
		},
	}
}
