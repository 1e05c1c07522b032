package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKVPutGetDelete(t *testing.T) {
	f := newFakeAgent(t)

	r := f.run("kv", "put", "-datacenter=dc2", "app/config", "hello world")
	wantOK(t, r)
	if r.stdout != "Success! Data written to: app/config\n" {
		t.Fatalf("put %q", r.stdout)
	}
	if req := f.last("/v1/kv/"); req.method != "PUT" || req.path != "/v1/kv/app/config" || req.get("dc") != "dc2" || req.body != "hello world" {
		t.Fatalf("put request %+v", req)
	}

	r = f.run("kv", "get", "/app/config") // leading slash forgiven
	wantOK(t, r)
	if r.stdout != "hello world\n" {
		t.Fatalf("get %q", r.stdout)
	}

	// -flags and the detailed view.
	wantOK(t, f.run("kv", "put", "-flags=42", "app/flagged", "x"))
	if f.last("/v1/kv/").get("flags") != "42" {
		t.Fatal("flags not sent")
	}
	r = f.run("kv", "get", "-detailed", "app/flagged")
	wantOK(t, r)
	detailed := lines(r.stdout)
	wantKeys := []string{"CreateIndex", "Flags", "Key", "LockIndex", "ModifyIndex", "Session", "Value"}
	if len(detailed) != len(wantKeys) {
		t.Fatalf("detailed %q", r.stdout)
	}
	for i, k := range wantKeys {
		if !strings.HasPrefix(detailed[i], k+" ") || strings.Index(detailed[i][len(k):], strings.TrimLeft(detailed[i][len(k):], " ")) != len("CreateIndex")+6-len(k) {
			t.Fatalf("detailed line %d %q not aligned", i, detailed[i])
		}
	}
	if fields(detailed[1])[1] != "42" || fields(detailed[5])[1] != "-" || fields(detailed[6])[1] != "x" {
		t.Fatalf("detailed values %q", r.stdout)
	}

	// CAS: wrong index fails with Consul's message, right index succeeds.
	r = f.run("kv", "put", "-cas", "-modify-index=999", "app/config", "new")
	wantFail(t, r, 1, "Error! Did not write to app/config: CAS failed")
	if f.last("/v1/kv/").get("cas") != "999" {
		t.Fatal("cas not sent")
	}
	idx := f.pair("app/config").ModifyIndex
	r = f.run("kv", "put", "-cas", "-modify-index="+itoa(idx), "app/config", "new")
	wantOK(t, r)
	r = f.run("kv", "put", "-cas", "-modify-index=0", "app/config", "again")
	wantFail(t, r, 1, "CAS failed")
	wantFail(t, f.run("kv", "put", "-cas", "app/config", "v"), 1, "Must specify -modify-index with -cas!")

	// Value from a file and from stdin.
	path := filepath.Join(t.TempDir(), "v.txt")
	if err := os.WriteFile(path, []byte("from-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantOK(t, f.run("kv", "put", "app/file", "@"+path))
	wantOK(t, f.runStdin("from-stdin", "kv", "put", "app/stdin", "-"))
	r = f.run("kv", "get", "-recurse", "app/")
	wantOK(t, r)
	if r.stdout != "app/config:new\napp/file:from-file\napp/flagged:x\napp/stdin:from-stdin\n" {
		t.Fatalf("recurse %q", r.stdout)
	}
	if !f.last("/v1/kv/").has("recurse") {
		t.Fatal("recurse not sent")
	}

	wantOK(t, f.run("kv", "put", "app/sub/deep", "d"))
	r = f.run("kv", "get", "-keys", "app/")
	wantOK(t, r)
	if r.stdout != "app/config\napp/file\napp/flagged\napp/stdin\napp/sub/\n" {
		t.Fatalf("keys %q", r.stdout)
	}
	if f.last("/v1/kv/").get("separator") != "/" {
		t.Fatal("separator not sent")
	}

	// Locks.
	wantOK(t, f.run("kv", "put", "-acquire", "-session=s1", "app/lock", "held"))
	wantFail(t, f.run("kv", "put", "-acquire", "-session=s2", "app/lock", "x"), 1, "Did not acquire lock")
	r = f.run("kv", "put", "-release", "-session=s1", "app/lock")
	wantOK(t, r)
	if r.stdout != "Success! Lock released on: app/lock\n" {
		t.Fatalf("release %q", r.stdout)
	}
	wantFail(t, f.run("kv", "put", "-acquire", "app/lock"), 1, "Missing -session")

	// Deletes.
	r = f.run("kv", "delete", "-cas", "-modify-index=1", "app/file")
	wantFail(t, r, 1, "Error! Did not delete key app/file: CAS failed")
	if f.last("/v1/kv/").get("cas") != "1" {
		t.Fatal("delete cas not sent")
	}
	r = f.run("kv", "delete", "app/file")
	wantOK(t, r)
	if r.stdout != "Success! Deleted key: app/file\n" {
		t.Fatalf("delete %q", r.stdout)
	}
	wantFail(t, f.run("kv", "get", "app/file"), 1, "Error! No key exists at: app/file")
	r = f.run("kv", "delete", "-recurse", "app/")
	wantOK(t, r)
	if r.stdout != "Success! Deleted keys with prefix: app/\n" || !f.last("/v1/kv/").has("recurse") {
		t.Fatalf("delete -recurse %q", r.stdout)
	}
	if f.kvLen() != 0 {
		t.Fatalf("store not empty: %d keys", f.kvLen())
	}

	wantFail(t, f.run("kv", "delete"), 1, "Missing KEY")
	wantFail(t, f.run("kv", "delete", "-cas", "-recurse", "-modify-index=1", "a"), 1, "Cannot specify both")
	wantFail(t, f.run("kv", "get"), 1, "Missing KEY")
	wantFail(t, f.run("kv", "put"), 1, "Missing KEY")
	wantFail(t, f.run("kv", "put", "a", "b", "c"), 1, "Too many arguments")
}

func TestKVExportImportRoundTrip(t *testing.T) {
	f := newFakeAgent(t)
	wantOK(t, f.run("kv", "put", "cfg/a", "one"))
	wantOK(t, f.run("kv", "put", "-flags=7", "cfg/b", "two\nlines"))
	wantOK(t, f.run("kv", "put", "other", "skip"))

	r := f.run("kv", "export", "cfg/")
	wantOK(t, r)
	var entries []kvEntry
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, r.stdout)
	}
	if len(entries) != 2 || entries[0].Key != "cfg/a" || entries[0].Value != "b25l" || entries[1].Flags != 7 {
		t.Fatalf("export entries %+v", entries)
	}
	if !strings.Contains(r.stdout, "\n\t{\n\t\t\"key\": \"cfg/a\",\n\t\t\"flags\": 0,\n\t\t\"value\": \"b25l\"\n\t}") {
		t.Fatalf("export not in Consul's layout:\n%s", r.stdout)
	}
	exported := r.stdout

	wantOK(t, f.run("kv", "delete", "-recurse", "cfg/"))
	r = f.runStdin(exported, "kv", "import")
	wantOK(t, r)
	if r.stdout != "Imported: cfg/a\nImported: cfg/b\n" {
		t.Fatalf("import %q", r.stdout)
	}
	r = f.run("kv", "get", "cfg/b")
	wantOK(t, r)
	if r.stdout != "two\nlines\n" || f.pair("cfg/b").Flags != 7 {
		t.Fatalf("after import %q flags %d", r.stdout, f.pair("cfg/b").Flags)
	}

	// Literal JSON argument with -prefix, and a file.
	wantOK(t, f.run("kv", "import", "-prefix=copy/", exported))
	if string(f.pair("copy/cfg/a").Value) != "one" {
		t.Fatal("prefixed import")
	}
	path := filepath.Join(t.TempDir(), "kv.json")
	if err := os.WriteFile(path, []byte(`[{"key":"file/k","flags":0,"value":"dg=="}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	wantOK(t, f.run("kv", "import", "@"+path))
	if string(f.pair("file/k").Value) != "v" {
		t.Fatal("file import")
	}

	// Bad input writes nothing.
	before := f.kvLen()
	wantFail(t, f.run("kv", "import", `not json`), 1, "Cannot unmarshal data")
	wantFail(t, f.run("kv", "import", `[{"key":"ok","value":"b25l"},{"key":"bad","value":"!!"}]`), 1, "base 64")
	if f.kvLen() != before {
		t.Fatal("failed import wrote keys")
	}
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
