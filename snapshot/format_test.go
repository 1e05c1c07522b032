package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// Everything Write is given comes back from Read unchanged, including the
// Raft configuration and an empty state.
func TestRoundTrip(t *testing.T) {
	full := &raft.SnapshotMeta{
		Version: raft.SnapshotVersionMax, ID: "7-1234-99", Index: 1234, Term: 7,
		Configuration: raft.Configuration{Servers: []raft.Server{
			{Suffrage: raft.Voter, ID: "a", Address: "127.0.0.11:8300"},
			{Suffrage: raft.Nonvoter, ID: "b", Address: "127.0.0.12:8300"},
		}},
		ConfigurationIndex: 3,
		Size:               5,
	}
	for _, tc := range []struct {
		name  string
		meta  *raft.SnapshotMeta
		state []byte
	}{
		{"full meta", full, []byte("state")},
		{"empty state", &raft.SnapshotMeta{Version: raft.SnapshotVersionMin, ID: "1-1-1", Index: 1, Term: 1}, []byte{}},
		{"binary state", full, []byte{0, 0xff, '\n', 0x1f, 0x8b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, tc.meta, tc.state); err != nil {
				t.Fatal(err)
			}
			meta, state, err := Read(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(meta, tc.meta) {
				t.Errorf("meta:\n got %+v\nwant %+v", meta, tc.meta)
			}
			if !bytes.Equal(state, tc.state) {
				t.Errorf("state %q, want %q", state, tc.state)
			}
		})
	}
}

// Write lays the archive out as Consul does: meta.json, state.bin and
// SHA256SUMS, in that order, regular files only, and SHA256SUMS in the
// "<hex>  <name>" form sha256sum -c reads.
func TestWriteLayout(t *testing.T) {
	gz, err := gzip.NewReader(bytes.NewReader(goodArchive(t)))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	var sumsText string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || h.Mode != 0o600 {
			t.Errorf("%s: type %c mode %o, want a 0600 regular file", h.Name, h.Typeflag, h.Mode)
		}
		names = append(names, h.Name)
		if h.Name == sumsFile {
			b, _ := io.ReadAll(tr)
			sumsText = string(b)
		}
	}
	if want := []string{metaFile, stateFile, sumsFile}; !reflect.DeepEqual(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	want := string(sums(file(metaFile, metaJSON(t, 1)), file(stateFile, []byte("state bytes"))))
	if sumsText != want {
		t.Fatalf("SHA256SUMS:\n%s\nwant:\n%s", sumsText, want)
	}
}

// The state limit is inclusive, and a zero or negative limit means the
// default rather than "nothing allowed".
func TestReadLimitedBoundary(t *testing.T) {
	const limit = 1024
	at := archive(t, wellFormed(t, 1, make([]byte, limit)), false)
	over := archive(t, wellFormed(t, 1, make([]byte, limit+1)), false)
	if _, _, err := ReadLimited(bytes.NewReader(at), Limits{MaxStateSize: limit}); err != nil {
		t.Fatalf("state of exactly the limit: %v", err)
	}
	_, _, err := ReadLimited(bytes.NewReader(over), Limits{MaxStateSize: limit})
	wantBad(t, "one byte over", err, "state.bin is 1025 bytes, limit 1024")
	for _, lim := range []int64{0, -1} {
		if _, _, err := ReadLimited(bytes.NewReader(over), Limits{MaxStateSize: lim}); err != nil {
			t.Errorf("limit %d (the default): %v", lim, err)
		}
	}
}

// Damage the table in snapshot_test.go does not cover: the metadata's own
// checksum, a missing meta.json, an oversized SHA256SUMS, and the small
// trailer allowance inside the gzip stream.
func TestReadMoreDamage(t *testing.T) {
	state := []byte("state bytes")
	m, s := file(metaFile, metaJSON(t, 1)), file(stateFile, state)
	otherMeta := file(metaFile, metaJSON(t, 2))
	for _, tc := range []struct {
		name    string
		archive []byte
		want    string
	}{
		{"meta checksum", archive(t, []entry{m, s, file(sumsFile, sums(otherMeta, s))}, false), "checksum of meta.json"},
		{"no meta", archive(t, []entry{s, file(sumsFile, sums(s))}, false), "no meta.json"},
		{"sums too big", archive(t, []entry{m, s, file(sumsFile, []byte(strings.Repeat("x", maxSumsSize+1)))}, false), "SHA256SUMS is 4097 bytes"},
		{"sums for another name", archive(t, []entry{m, s, file(sumsFile, sums(m, file("state.bak", state)))}, false), "checksum of state.bin"},
		{"empty gzip", func() []byte {
			var buf bytes.Buffer
			gz := gzip.NewWriter(&buf)
			gz.Close()
			return buf.Bytes()
		}(), "no meta.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Read(bytes.NewReader(tc.archive))
			wantBad(t, tc.name, err, tc.want)
		})
	}

	// Padding after the tar, within the allowance, is accepted.
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range wellFormed(t, 1, state) {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o600, Size: int64(len(e.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := gz.Write(make([]byte, maxTrailer)); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if _, got, err := Read(&buf); err != nil || !bytes.Equal(got, state) {
		t.Fatalf("archive with %d bytes of padding: %v", maxTrailer, err)
	}
}
