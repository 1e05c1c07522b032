// Package snapshot is the file format of Consulate snapshots: a gzipped
// tar archive holding meta.json (Raft's snapshot metadata), state.bin (the
// state store's snapshot) and SHA256SUMS, the same layout Consul uses,
// though state.bin is Consulate's own encoding. The server writes and
// restores archives; the CLI verifies and inspects them.
//
// It is not for taking snapshots (that is Raft's job, in server/).
package snapshot

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"consulate/structs"
)

const (
	metaFile  = "meta.json"
	stateFile = "state.bin"
	sumsFile  = "SHA256SUMS"
	// MaxStateSize bounds what a reader takes into memory.
	MaxStateSize = 2 << 30
)

// Write writes an archive of state, described by meta, to w.
func Write(w io.Writer, meta *raft.SnapshotMeta, state []byte) error {
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	sums := ""
	for _, f := range []struct {
		name string
		data []byte
	}{{metaFile, metaJSON}, {stateFile, state}} {
		sum := sha256.Sum256(f.data)
		sums += hex.EncodeToString(sum[:]) + "  " + f.name + "\n"
		if err := writeFile(tw, f.name, f.data); err != nil {
			return err
		}
	}
	if err := writeFile(tw, sumsFile, []byte(sums)); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: time.Now()}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// Read reads and verifies an archive. Anything wrong with it is a
// *structs.BadRequestError saying what.
func Read(r io.Reader) (*raft.SnapshotMeta, []byte, error) {
	bad := func(format string, args ...any) error {
		return &structs.BadRequestError{Reason: "snapshot: " + fmt.Sprintf(format, args...)}
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, nil, bad("not a gzip archive: %v", err)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for i := 0; i < 16; i++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, bad("reading archive: %v", err)
		}
		data, err := io.ReadAll(io.LimitReader(tr, MaxStateSize+1))
		if err != nil || len(data) > MaxStateSize {
			return nil, nil, bad("reading %s: too large or unreadable", h.Name)
		}
		files[h.Name] = data
	}
	sums := map[string]string{}
	for _, line := range strings.Split(string(files[sumsFile]), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			sums[f[1]] = f[0]
		}
	}
	for _, name := range []string{metaFile, stateFile} {
		data, ok := files[name]
		if !ok {
			return nil, nil, bad("archive has no %s", name)
		}
		sum := sha256.Sum256(data)
		if sums[name] != hex.EncodeToString(sum[:]) {
			return nil, nil, bad("checksum of %s does not match", name)
		}
	}
	var meta raft.SnapshotMeta
	if err := json.Unmarshal(files[metaFile], &meta); err != nil {
		return nil, nil, bad("meta.json: %v", err)
	}
	return &meta, files[stateFile], nil
}
