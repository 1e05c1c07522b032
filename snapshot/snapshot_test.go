package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"consulate/structs"
)

type entry struct {
	name string
	data []byte
	// size, when not -1, is written in the header instead of len(data).
	size     int64
	typeflag byte
}

func file(name string, data []byte) entry { return entry{name: name, data: data, size: -1} }

// archive builds a gzipped tar of entries; the tar is left unclosed (as
// a truncated archive would be) when open is set.
func archive(t testing.TB, entries []entry, open bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		size := int64(len(e.data))
		if e.size >= 0 {
			size = e.size
		}
		tf := e.typeflag
		if tf == 0 {
			tf = tar.TypeReg
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o600, Size: size, Typeflag: tf}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil && e.size < 0 {
			t.Fatal(err)
		}
	}
	if !open {
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		tw.Flush()
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func metaJSON(t testing.TB, version raft.SnapshotVersion) []byte {
	b, err := json.Marshal(&raft.SnapshotMeta{Version: version, ID: "2-10-1", Index: 10, Term: 2})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sums(files ...entry) []byte {
	var sb strings.Builder
	for _, f := range files {
		s := sha256.Sum256(f.data)
		sb.WriteString(hex.EncodeToString(s[:]) + "  " + f.name + "\n")
	}
	return []byte(sb.String())
}

// wellFormed is the three files of an archive with the given state.
func wellFormed(t testing.TB, version raft.SnapshotVersion, state []byte) []entry {
	m, s := file(metaFile, metaJSON(t, version)), file(stateFile, state)
	return []entry{m, s, file(sumsFile, sums(m, s))}
}

func goodArchive(t testing.TB) []byte {
	var buf bytes.Buffer
	if err := Write(&buf, &raft.SnapshotMeta{Version: 1, ID: "2-10-1", Index: 10, Term: 2}, []byte("state bytes")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func wantBad(t *testing.T, name string, err error, substr string) {
	t.Helper()
	var bad *structs.BadRequestError
	if !errors.As(err, &bad) {
		t.Errorf("%s: got %v, want a BadRequestError", name, err)
		return
	}
	if !strings.Contains(err.Error(), substr) {
		t.Errorf("%s: %q does not say %q", name, err, substr)
	}
}

func TestReadGood(t *testing.T) {
	meta, state, err := Read(bytes.NewReader(goodArchive(t)))
	if err != nil {
		t.Fatal(err)
	}
	if meta.Index != 10 || meta.Term != 2 || string(state) != "state bytes" {
		t.Fatalf("got %+v %q", meta, state)
	}
}

func TestReadRejectsTruncation(t *testing.T) {
	good := goodArchive(t)
	// Every cut is an error, never a panic and never a silent success.
	for n := 0; n < len(good); n++ {
		if _, _, err := Read(bytes.NewReader(good[:n])); err == nil {
			t.Fatalf("archive cut to %d of %d bytes accepted", n, len(good))
		} else {
			var bad *structs.BadRequestError
			if !errors.As(err, &bad) {
				t.Fatalf("cut to %d: %v is not a BadRequestError", n, err)
			}
		}
	}
	// Cut inside state.bin: the message says truncated.
	_, _, err := Read(bytes.NewReader(good[:len(good)-30]))
	wantBad(t, "cut near the end", err, "truncated")
}

func TestReadRejectsBadArchives(t *testing.T) {
	state := []byte("state bytes")
	good := wellFormed(t, 1, state)
	m, s := good[0], good[1]
	for _, tc := range []struct {
		name    string
		archive []byte
		want    string
	}{
		{"not gzip", []byte("PK\x03\x04 a zip file"), "not a gzip archive"},
		{"wrong raft version", archive(t, wellFormed(t, 99, state), false), "unsupported snapshot version 99"},
		{"negative raft version", archive(t, wellFormed(t, -1, state), false), "unsupported snapshot version -1"},
		{"bad checksum", archive(t, []entry{m, s, file(sumsFile, sums(m, file(stateFile, []byte("other"))))}, false), "checksum of state.bin"},
		{"no sums", archive(t, []entry{m, s}, false), "no SHA256SUMS"},
		{"no state", archive(t, []entry{m, file(sumsFile, sums(m))}, false), "no state.bin"},
		{"extra file", archive(t, append(wellFormed(t, 1, state), file("evil.sh", []byte("x"))), false), `unexpected file "evil.sh"`},
		{"duplicate", archive(t, append(wellFormed(t, 1, state), s), false), "appears twice"},
		{"symlink", archive(t, []entry{m, {name: stateFile, size: -1, typeflag: tar.TypeSymlink}}, false), "not a regular file"},
		{"meta not json", archive(t, func() []entry {
			m := file(metaFile, []byte("{nope"))
			return []entry{m, s, file(sumsFile, sums(m, s))}
		}(), false), "meta.json"},
		{"huge meta", archive(t, []entry{{name: metaFile, size: maxMetaSize + 1}}, true), "limit"},
	} {
		_, _, err := Read(bytes.NewReader(tc.archive))
		wantBad(t, tc.name, err, tc.want)
	}
}

// A gzip bomb: state.bin claims far more than MaxStateSize. The header
// alone rejects it, so nothing is decompressed or allocated.
func TestReadRejectsGzipBomb(t *testing.T) {
	bomb := archive(t, []entry{{name: stateFile, data: make([]byte, 1<<20), size: 8 << 30}}, true)
	start := time.Now()
	_, _, err := Read(bytes.NewReader(bomb))
	wantBad(t, "8 GiB state", err, "limit 1073741824")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("rejecting the bomb took %s", d)
	}

	// Within a smaller limit, a real (complete) bomb: 4 MiB of zeros,
	// a few KiB compressed, against a 1 MiB limit.
	zeros := wellFormed(t, 1, make([]byte, 4<<20))
	small := archive(t, zeros, false)
	if len(small) > 64<<10 {
		t.Fatalf("bomb compresses to %d bytes", len(small))
	}
	_, _, err = ReadLimited(bytes.NewReader(small), Limits{MaxStateSize: 1 << 20})
	wantBad(t, "4 MiB state, 1 MiB limit", err, "limit 1048576")
	// The same archive within a limit that fits is fine: the bound is
	// what rejected it.
	if _, _, err := ReadLimited(bytes.NewReader(small), Limits{MaxStateSize: 8 << 20}); err != nil {
		t.Fatalf("within the limit: %v", err)
	}
}

// Data after the tar inside the gzip stream, or a second gzip member,
// is not silently ignored beyond a small allowance.
func TestReadRejectsTrailingData(t *testing.T) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range wellFormed(t, 1, []byte("s")) {
		tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o600, Size: int64(len(e.data))})
		tw.Write(e.data)
	}
	tw.Close()
	gz.Write(make([]byte, maxTrailer+1))
	gz.Close()
	_, _, err := Read(bytes.NewReader(buf.Bytes()))
	wantBad(t, "trailing data", err, "after its last file")

	// A corrupted gzip trailer (CRC) is caught even though every tar entry
	// decoded: flip a bit of the CRC, 8 bytes from the end.
	good := goodArchive(t)
	bad := append([]byte(nil), good...)
	bad[len(bad)-8] ^= 1
	_, _, err = Read(bytes.NewReader(bad))
	wantBad(t, "bad gzip crc", err, "checksum")
}
