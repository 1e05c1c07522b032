package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/urfave/cli/v2"
)

// tlsCommand is `consulate tls`: helpers that create a CA and agent
// certificates, as `consul tls` does. They work on files in the current
// directory and need no agent.
func (e *env) tlsCommand() *cli.Command {
	return &cli.Command{
		Name:  "tls",
		Usage: "Builtin helpers for creating CAs and certificates",
		Subcommands: []*cli.Command{
			{
				Name:        "ca",
				Usage:       "Helpers for CAs",
				Subcommands: []*cli.Command{e.tlsCACreateCommand()},
			},
			{
				Name:        "cert",
				Usage:       "Helpers for certificates",
				Subcommands: []*cli.Command{e.tlsCertCreateCommand()},
			},
		},
	}
}

// fileExists reports whether name exists (any error other than "does not
// exist" counts as existing, so nothing is overwritten by mistake).
func fileExists(name string) bool {
	_, err := os.Stat(name)
	return !errors.Is(err, fs.ErrNotExist)
}

// writeNew writes data to a file that must not exist yet.
func writeNew(name, data string, perm os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists.", name)
		}
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// savePair writes a certificate (0644) and its key (0600), refusing to
// overwrite either, and prints Consul's "==> Saved" lines.
func (e *env) savePair(certFile, certPEM, keyFile, keyPEM string) error {
	for _, f := range []string{certFile, keyFile} {
		if fileExists(f) {
			return fmt.Errorf("%s already exists.", f)
		}
	}
	if err := writeNew(certFile, certPEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "==> Saved %s\n", certFile)
	if err := writeNew(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "==> Saved %s\n", keyFile)
	return nil
}
