package rexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

// fakeKV answers KVS.Get and KVS.Apply (lock) from a map, and refuses
// writes once the session is destroyed.
type fakeKV struct {
	mu      sync.Mutex
	kv      map[string][]byte
	dead    bool
	tokens  []string
	history []string // keys in write order
}

func newFakeKV() *fakeKV { return &fakeKV{kv: map[string][]byte{}} }

func (f *fakeKV) rpc(_ context.Context, m structs.Method, args, reply any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch m {
	case structs.MethodKVSGet:
		req := args.(*structs.KeyRequest)
		f.tokens = append(f.tokens, req.Token)
		out := reply.(*structs.IndexedDirEntries)
		if v, ok := f.kv[req.Key]; ok {
			out.Entries = structs.DirEntries{{Key: req.Key, Value: v}}
		}
		return nil
	case structs.MethodKVSApply:
		req := args.(*structs.KVSRequest)
		f.tokens = append(f.tokens, req.Token)
		if req.Op != structs.KVLock || req.DirEnt.Session != "sess" {
			return fmt.Errorf("unexpected write %+v", req)
		}
		if f.dead {
			*reply.(*bool) = false
			return nil
		}
		f.kv[req.DirEnt.Key] = req.DirEnt.Value
		f.history = append(f.history, req.DirEnt.Key)
		*reply.(*bool) = true
		return nil
	}
	return errors.New("unexpected method " + string(m))
}

func (f *fakeKV) get(k string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.kv[k]
	return v, ok
}

// output joins the out/ chunks in order; heartbeats counts the empty ones.
func (f *fakeKV) output(node string) (out string, heartbeats int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for k := range f.kv {
		if strings.HasPrefix(k, "_rexec/sess/"+node+"/out/") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(f.kv[k]) == 0 {
			heartbeats++
		}
		out += string(f.kv[k])
	}
	return out, heartbeats
}

func newTestExecutor(t *testing.T, f *fakeKV) *Executor {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeName = "n1"
	cfg.OutputSize = 64
	cfg.OutputIdle = 20 * time.Millisecond
	x, err := New(cfg, Deps{RPC: f.rpc, Token: func() string { return "agent-token" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		x.Shutdown(ctx)
	})
	return x
}

func fire(t *testing.T, x *Executor, f *fakeKV, spec Spec) {
	t.Helper()
	b, _ := json.Marshal(spec)
	f.mu.Lock()
	f.kv["_rexec/sess/job"] = b
	f.mu.Unlock()
	payload, _ := json.Marshal(Event{Prefix: "_rexec", Session: "sess"})
	x.Handle(&structs.UserEvent{ID: "e1", Name: EventName, Payload: payload})
}

func TestJobRunsAndReports(t *testing.T) {
	f := newFakeKV()
	x := newTestExecutor(t, f)
	fire(t, x, f, Spec{Command: "for i in 1 2 3 4 5 6 7 8 9 10; do echo line-$i; done; echo oops >&2; exit 7", Wait: time.Second})
	testutil.WaitFor(t, 10*time.Second, "exit code", func() bool { _, ok := f.get("_rexec/sess/n1/exit"); return ok })
	if v, _ := f.get("_rexec/sess/n1/exit"); string(v) != "7" {
		t.Fatalf("exit %q", v)
	}
	if _, ok := f.get("_rexec/sess/n1/ack"); !ok {
		t.Fatal("no ack")
	}
	out, _ := f.output("n1")
	want := ""
	for i := 1; i <= 10; i++ {
		want += fmt.Sprintf("line-%d\n", i)
	}
	want += "oops\n"
	if out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	// Chunks are at most OutputSize, and the ack comes first, the exit last.
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range f.kv {
		if strings.Contains(k, "/out/") && len(v) > 64 {
			t.Errorf("chunk %s has %d bytes", k, len(v))
		}
	}
	if f.history[0] != "_rexec/sess/n1/ack" || f.history[len(f.history)-1] != "_rexec/sess/n1/exit" {
		t.Errorf("write order %v", f.history)
	}
	for _, tok := range f.tokens {
		if tok != "agent-token" {
			t.Fatalf("request without the agent token: %q", tok)
		}
	}
}

func TestSilentJobSendsHeartbeats(t *testing.T) {
	f := newFakeKV()
	x := newTestExecutor(t, f)
	fire(t, x, f, Spec{Command: "sleep 0.5", Wait: 100 * time.Millisecond})
	testutil.WaitFor(t, 10*time.Second, "exit code", func() bool { _, ok := f.get("_rexec/sess/n1/exit"); return ok })
	if _, hb := f.output("n1"); hb < 2 {
		t.Fatalf("%d heartbeats in 0.5s with a 100ms wait", hb)
	}
}

func TestDuplicateEventRunsOnce(t *testing.T) {
	f := newFakeKV()
	x := newTestExecutor(t, f)
	fire(t, x, f, Spec{Command: "echo once", Wait: time.Second})
	fire(t, x, f, Spec{Command: "echo once", Wait: time.Second})
	testutil.WaitFor(t, 10*time.Second, "exit code", func() bool { _, ok := f.get("_rexec/sess/n1/exit"); return ok })
	if out, _ := f.output("n1"); out != "once\n" {
		t.Fatalf("output %q", out)
	}
}

// waitJobs waits (bounded) for every running job to end.
func waitJobs(t *testing.T, x *Executor, within time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		x.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(within):
		t.Fatalf("jobs still running after %v", within)
	}
}

func TestLostSessionKillsJob(t *testing.T) {
	f := newFakeKV()
	x := newTestExecutor(t, f)
	fire(t, x, f, Spec{Command: "while true; do echo tick; sleep 0.05; done", Wait: time.Second})
	testutil.WaitFor(t, 10*time.Second, "output", func() bool { out, _ := f.output("n1"); return out != "" })
	f.mu.Lock()
	f.dead = true
	f.mu.Unlock()
	// The endless job ends on its own once its writes are refused.
	waitJobs(t, x, 10*time.Second)
}

func TestIgnoresOtherEventsAndBadPayloads(t *testing.T) {
	f := newFakeKV()
	x := newTestExecutor(t, f)
	x.Handle(&structs.UserEvent{Name: "deploy", Payload: []byte(`{"Prefix":"_rexec","Session":"sess"}`)})
	x.Handle(&structs.UserEvent{Name: EventName, Payload: []byte(`not json`)})
	x.Handle(&structs.UserEvent{Name: EventName, Payload: []byte(`{"Prefix":"_rexec"}`)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := x.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.history) != 0 || len(f.tokens) != 0 {
		t.Fatalf("acted on ignored events: %v %v", f.history, f.tokens)
	}
}

func TestMissingJobIsAbortedAfterConsistentRead(t *testing.T) {
	f := newFakeKV()
	x := newTestExecutor(t, f)
	payload, _ := json.Marshal(Event{Prefix: "_rexec", Session: "sess"})
	x.Handle(&structs.UserEvent{Name: EventName, Payload: payload})
	waitJobs(t, x, 5*time.Second)
	if len(f.tokens) != 2 || len(f.history) != 0 {
		t.Fatalf("reads %d (want a stale then a consistent one), writes %v", len(f.tokens), f.history)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}, Deps{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("empty config: %v", err)
	}
	cfg := DefaultConfig()
	cfg.NodeName = "n"
	if _, err := New(cfg, Deps{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no RPC: %v", err)
	}
}

// alive tells whether pid runs (a zombie or a missing process is dead).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// TestLostSessionKillsGrandchildren: a background job and a pipeline the
// shell started die with it when the session is lost.
func TestLostSessionKillsGrandchildren(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	pidFile := filepath.Join(t.TempDir(), "pids")
	f := newFakeKV()
	x := newTestExecutor(t, f)
	fire(t, x, f, Spec{Command: "sleep 60 & echo $! > " + pidFile +
		"; sleep 61 | cat & echo $! >> " + pidFile +
		"; while true; do echo tick; sleep 0.05; done", Wait: time.Second})
	var pids []int
	testutil.WaitForErr(t, 10*time.Second, "grandchild pids", func() error {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return err
		}
		pids = pids[:0]
		for _, l := range strings.Fields(string(b)) {
			p, err := strconv.Atoi(l)
			if err != nil {
				return err
			}
			pids = append(pids, p)
		}
		if len(pids) < 2 {
			return fmt.Errorf("pids %v", pids)
		}
		return nil
	})
	t.Cleanup(func() {
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
	})
	for _, p := range pids {
		if !alive(p) {
			t.Fatalf("grandchild %d not running before the session is lost", p)
		}
	}
	f.mu.Lock()
	f.dead = true
	f.mu.Unlock()
	waitJobs(t, x, 10*time.Second)
	testutil.WaitForErr(t, 5*time.Second, "grandchildren killed", func() error {
		for _, p := range pids {
			if alive(p) {
				return fmt.Errorf("grandchild %d still running", p)
			}
		}
		return nil
	})
}

// TestJobKilledBySignalReportsMinusOne: Consul reports -1 for a command a
// signal ended.
func TestJobKilledBySignalReportsMinusOne(t *testing.T) {
	f := newFakeKV()
	x := newTestExecutor(t, f)
	fire(t, x, f, Spec{Command: "kill -9 $$", Wait: time.Second})
	testutil.WaitFor(t, 10*time.Second, "exit code", func() bool { _, ok := f.get("_rexec/sess/n1/exit"); return ok })
	if v, _ := f.get("_rexec/sess/n1/exit"); string(v) != "-1" {
		t.Fatalf("exit %q, want -1", v)
	}
}
