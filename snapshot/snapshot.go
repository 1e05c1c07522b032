// Package snapshot is the file format of Consulate snapshots: a gzipped
// tar archive holding meta.json (Raft's snapshot metadata), state.bin (the
// state store's snapshot) and SHA256SUMS, the same layout Consul uses,
// though state.bin is Consulate's own encoding. The server writes and
// restores archives; the CLI verifies and inspects them.
//
// It is not for taking snapshots (that is Raft's job, in server/), nor
// for decoding state.bin (that is the catalog's).
package snapshot

import (
	"archive/tar"
	"bytes"
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

	// MaxStateSize bounds state.bin, decompressed: Read refuses a larger
	// one before reading it, and the server refuses to save one. The whole
	// state is held in memory (and decoded once more to validate it), so
	// this is what a restore may cost the leader.
	MaxStateSize = 1 << 30
	// MaxArchiveSize bounds the compressed archive a restore accepts (the
	// HTTP API's body limit for PUT /v1/snapshot). Consul sets no limit;
	// 256 MiB of gzip holds far more than any state that fits MaxStateSize
	// compresses to in practice.
	MaxArchiveSize = 256 << 20
	// maxMetaSize and maxSumsSize bound the two small files.
	maxMetaSize = 1 << 20
	maxSumsSize = 4 << 10
	// maxTrailer bounds what may follow the tar archive inside the gzip
	// stream (tar pads to its record size; nothing else belongs there).
	maxTrailer = 64 << 10
)

// Limits bound what Read takes in. Zero fields take the defaults above.
type Limits struct {
	// MaxStateSize bounds state.bin, decompressed.
	MaxStateSize int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxStateSize <= 0 {
		l.MaxStateSize = MaxStateSize
	}
	return l
}

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

// Read reads and verifies an archive with the default limits.
func Read(r io.Reader) (*raft.SnapshotMeta, []byte, error) {
	return ReadLimited(r, Limits{})
}

// ReadLimited reads and verifies an archive: exactly the three files,
// each within its size limit (checked against the tar header before a
// byte of it is decompressed, so a gzip bomb costs nothing), checksums
// that match, a gzip stream that ends cleanly, and metadata of a Raft
// snapshot version this build can restore. It does not decode state.bin.
// Anything wrong is a *structs.BadRequestError saying what.
func ReadLimited(r io.Reader, lim Limits) (*raft.SnapshotMeta, []byte, error) {
	lim = lim.withDefaults()
	bad := func(format string, args ...any) error {
		return &structs.BadRequestError{Reason: "snapshot: " + fmt.Sprintf(format, args...)}
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, nil, bad("not a gzip archive: %v", err)
	}
	// One gzip member only: a second one would be data nobody checks.
	gz.Multistream(false)
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, bad("reading archive: %v", describeReadErr(err))
		}
		var limit int64
		switch h.Name {
		case metaFile:
			limit = maxMetaSize
		case stateFile:
			limit = lim.MaxStateSize
		case sumsFile:
			limit = maxSumsSize
		default:
			return nil, nil, bad("unexpected file %q in archive (want only %s, %s, %s)", h.Name, metaFile, stateFile, sumsFile)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, nil, bad("%s is not a regular file", h.Name)
		}
		if _, dup := files[h.Name]; dup {
			return nil, nil, bad("%s appears twice in archive", h.Name)
		}
		if h.Size < 0 || h.Size > limit {
			return nil, nil, bad("%s is %d bytes, limit %d", h.Name, h.Size, limit)
		}
		// Grow with the bytes that arrive, not with what the header claims.
		var data bytes.Buffer
		if _, err := io.CopyN(&data, tr, h.Size); err != nil {
			return nil, nil, bad("reading %s: %v", h.Name, describeReadErr(err))
		}
		files[h.Name] = data.Bytes()
	}
	// Drain the rest of the gzip stream, so its CRC and length are checked
	// and a truncated archive is caught even when the tar entries survived.
	n, err := io.Copy(io.Discard, io.LimitReader(gz, maxTrailer+1))
	switch {
	case err != nil:
		return nil, nil, bad("archive: %v", describeReadErr(err))
	case n > maxTrailer:
		return nil, nil, bad("archive has more than %d bytes after its last file", maxTrailer)
	}
	sums := map[string]string{}
	for _, line := range strings.Split(string(files[sumsFile]), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			sums[f[1]] = f[0]
		}
	}
	for _, name := range []string{metaFile, stateFile, sumsFile} {
		if _, ok := files[name]; !ok {
			return nil, nil, bad("archive has no %s", name)
		}
	}
	for _, name := range []string{metaFile, stateFile} {
		sum := sha256.Sum256(files[name])
		if sums[name] != hex.EncodeToString(sum[:]) {
			return nil, nil, bad("checksum of %s does not match", name)
		}
	}
	var meta raft.SnapshotMeta
	if err := json.Unmarshal(files[metaFile], &meta); err != nil {
		return nil, nil, bad("meta.json: %v", err)
	}
	if meta.Version < raft.SnapshotVersionMin || meta.Version > raft.SnapshotVersionMax {
		return nil, nil, bad("unsupported snapshot version %d (this build restores %d to %d)",
			meta.Version, raft.SnapshotVersionMin, raft.SnapshotVersionMax)
	}
	return &meta, files[stateFile], nil
}

// describeReadErr names the usual causes plainly.
func describeReadErr(err error) string {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "archive is truncated"
	case errors.Is(err, gzip.ErrChecksum):
		return "gzip checksum mismatch (archive is corrupt)"
	}
	return err.Error()
}
