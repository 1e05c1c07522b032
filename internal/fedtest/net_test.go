package fedtest

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"consulate/structs"
)

// echo answers KVS.Get with the key it was asked for, and fails a key
// named "missing" with not-found; it scribbles on its args, which the
// caller must never see.
type echo struct{}

func (echo) NewCall(method structs.Method) (args, reply any, ok bool) {
	if method != structs.MethodKVSGet {
		return nil, nil, false
	}
	return new(structs.KeyRequest), new(structs.IndexedDirEntries), true
}

func (echo) RPC(ctx context.Context, _ structs.Method, args, reply any) error {
	a, r := args.(*structs.KeyRequest), reply.(*structs.IndexedDirEntries)
	if a.Key == "missing" {
		return structs.ErrNotFound
	}
	if a.Key == "block" {
		<-ctx.Done()
		return ctx.Err()
	}
	r.Entries = structs.DirEntries{{Key: a.Key}}
	r.Index = 7
	a.Key = "scribbled"
	return nil
}

func get(ctx context.Context, e *Endpoint, to structs.ServerAddr, key string) (*structs.KeyRequest, *structs.IndexedDirEntries, error) {
	args, reply := &structs.KeyRequest{Key: key}, new(structs.IndexedDirEntries)
	return args, reply, e.Call(ctx, "dc1", to, structs.MethodKVSGet, args, reply)
}

func TestNetCalls(t *testing.T) {
	n := NewNet()
	defer func() {
		if err := n.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	n.Attach("b", echo{})
	a := n.Endpoint("a")
	ctx := context.Background()

	args, reply, err := get(ctx, a, "b", "k")
	if err != nil || len(reply.Entries) != 1 || reply.Entries[0].Key != "k" || reply.Index != 7 {
		t.Fatalf("call: %+v %v", reply, err)
	}
	if args.Key != "k" || n.Served("b") != 1 {
		t.Fatalf("args %+v seen changed, or served %d", args, n.Served("b"))
	}

	// Errors come back as the wire gives them.
	_, _, err = get(ctx, a, "b", "missing")
	var re *structs.RemoteError
	if !errors.As(err, &re) || !errors.Is(err, structs.ErrNotFound) {
		t.Fatalf("handler error: %v", err)
	}
	err = a.Call(ctx, "dc1", "b", structs.MethodKVSApply, &structs.KVSRequest{}, new(bool))
	if !errors.Is(err, structs.ErrUnknownMethod) {
		t.Fatalf("unknown method: %v", err)
	}
	for _, addr := range []structs.ServerAddr{"nobody", "b"} {
		if addr == "b" {
			n.Kill("b")
		}
		if _, _, err := get(ctx, a, addr, "k"); !errors.Is(err, structs.ErrUnreachable) {
			t.Fatalf("call to %s: %v", addr, err)
		}
		if _, err := a.Ping(ctx, "dc1", addr); !errors.Is(err, structs.ErrUnreachable) {
			t.Fatalf("ping to %s: %v", addr, err)
		}
	}
	n.Attach("b", echo{})
	if _, _, err := get(ctx, a, "b", "k"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

// Across a cut, calls and pings hang until their ctx ends or the session
// is closed; a heal does not revive packets already lost.
func TestNetCut(t *testing.T) {
	n := NewNet()
	defer func() { _ = n.Close(context.Background()) }()
	n.Attach("b", echo{})
	a := n.Endpoint("a")
	n.Cut("b", "a")
	if !n.IsCut("a", "b") {
		t.Fatal("cut is one-way")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := get(ctx, a, "b", "k"); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 40*time.Millisecond {
		t.Fatalf("call across a cut: %v after %v", err, time.Since(start))
	}
	if _, err := a.Ping(ctx, "dc1", "b"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping across a cut: %v", err)
	}

	cases := []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"call", func(ctx context.Context) error { _, _, err := get(ctx, a, "b", "k"); return err }},
		{"ping", func(ctx context.Context) error { _, err := a.Ping(ctx, "dc1", "b"); return err }},
		{"in flight", func(ctx context.Context) error { _, _, err := get(ctx, a, "b", "block"); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "in flight" {
				n.Heal() // cut nothing: the handler blocks
			} else {
				n.Cut("a", "b")
			}
			errc := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				errc <- tc.op(ctx)
			}()
			var closed int
			deadline := time.Now().Add(2 * time.Second)
			for closed == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
				closed = a.CloseSession("b")
			}
			select {
			case err := <-errc:
				if !errors.Is(err, ErrSessionClosed) {
					t.Fatalf("want ErrSessionClosed, got %v", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("CloseSession did not fail the waiting call")
			}
		})
	}

	// An answer that comes back across a cut made meanwhile is lost.
	n.Heal()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	n.Attach("c", blockThenAnswer{n: n, cut: [2]structs.ServerAddr{"a", "c"}})
	if _, _, err := get(ctx2, a, "c", "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("answer across a new cut: %v", err)
	}
}

// blockThenAnswer cuts a link while it handles a call, then answers.
type blockThenAnswer struct {
	n   *Net
	cut [2]structs.ServerAddr
}

func (b blockThenAnswer) NewCall(m structs.Method) (any, any, bool) { return echo{}.NewCall(m) }

func (b blockThenAnswer) RPC(ctx context.Context, m structs.Method, args, reply any) error {
	b.n.Cut(b.cut[0], b.cut[1])
	return echo{}.RPC(ctx, m, args, reply)
}

// Only tests may import this package.
func TestImportedOnlyByTests(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	const self = "consulate/internal/fedtest"
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == self {
				t.Errorf("%s imports %s; only tests may", path, self)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
