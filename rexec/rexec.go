package rexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"strconv"
	"sync"
	"time"

	"consulate/internal/waitctx"
	"consulate/structs"
)

// EventName is the user event that announces a remote exec job.
const EventName = "_rexec"

// Key names under <prefix>/<session>, as Consul's.
const (
	jobKey     = "job"
	ackSuffix  = "ack"
	exitSuffix = "exit"
	outDivider = "out"
)

// ErrInvalidConfig is wrapped by New's configuration errors.
var ErrInvalidConfig = errors.New("rexec: invalid configuration")

// Event is the `_rexec` event's payload: where the job lives.
type Event struct {
	Prefix  string
	Session string
}

// Spec is the job at <prefix>/<session>/job. Command runs under the shell;
// Args, when set, runs directly instead; Script is a shell script used when
// Command is empty. Wait is the heartbeat period while the command prints
// nothing (a time.Duration in nanoseconds on the wire, as Consul's).
type Spec struct {
	Command string   `json:",omitempty"`
	Args    []string `json:",omitempty"`
	Script  []byte   `json:",omitempty"`
	Wait    time.Duration
}

// RPCFunc is the agent's RPC seam.
type RPCFunc func(ctx context.Context, method structs.Method, args, reply any) error

// Config configures an Executor.
type Config struct {
	// NodeName is this agent's node name: the job's replies go under it.
	NodeName string
	// Datacenter is this agent's datacenter.
	Datacenter string
	// OutputSize is the largest output chunk written to one key.
	OutputSize int
	// OutputIdle is how long output waits for more before it is written.
	OutputIdle time.Duration
	// DefaultWait is the heartbeat period for a job whose spec has none.
	DefaultWait time.Duration
	// Shell runs Command and Script with "-c"; "" means $SHELL, else
	// /bin/sh, as Consul.
	Shell string
	// Logger; nil discards.
	Logger *slog.Logger
}

// DefaultConfig is Consul's sizes: 4 KiB chunks, written after 500ms idle.
func DefaultConfig() Config {
	return Config{OutputSize: 4 * 1024, OutputIdle: 500 * time.Millisecond, DefaultWait: 2 * time.Second}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.NodeName == "":
		return fmt.Errorf("%w: NodeName is empty", ErrInvalidConfig)
	case c.OutputSize <= 0:
		return fmt.Errorf("%w: OutputSize must be positive", ErrInvalidConfig)
	case c.OutputIdle <= 0:
		return fmt.Errorf("%w: OutputIdle must be positive", ErrInvalidConfig)
	case c.DefaultWait <= 0:
		return fmt.Errorf("%w: DefaultWait must be positive", ErrInvalidConfig)
	}
	return nil
}

// Deps are the Executor's ties to the agent.
type Deps struct {
	// RPC reaches the servers (KVS.Get, KVS.Apply).
	RPC RPCFunc
	// Token returns the agent token the KV reads and writes carry; nil
	// means none.
	Token func() string
}

// Executor runs the remote exec jobs announced to this agent. It is safe
// for concurrent use.
type Executor struct {
	cfg    Config
	deps   Deps
	logger *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool            // Shutdown was called: no new jobs
	seen   map[string]bool // sessions already handled
	// order bounds seen: the oldest sessions are forgotten first.
	order []string
}

// maxSeen bounds the sessions remembered against duplicate events.
const maxSeen = 256

// New builds an Executor; jobs start with Handle.
func New(cfg Config, deps Deps) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.RPC == nil {
		return nil, fmt.Errorf("%w: no RPC", ErrInvalidConfig)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Executor{cfg: cfg, deps: deps, logger: logger.With("component", "rexec"),
		ctx: ctx, cancel: cancel, seen: map[string]bool{}}, nil
}

// Handle starts the job a `_rexec` event announces, in the background.
// Other events are ignored. It does not block.
func (x *Executor) Handle(ev *structs.UserEvent) {
	if ev == nil || ev.Name != EventName {
		return
	}
	var e Event
	if err := json.Unmarshal(ev.Payload, &e); err != nil {
		x.logger.Error("failed to decode remote exec event", "error", err)
		return
	}
	if e.Prefix == "" || e.Session == "" {
		x.logger.Error("remote exec event missing prefix or session")
		return
	}
	if !x.admit(e.Session) {
		return
	}
	go func() {
		defer x.wg.Done()
		x.run(x.ctx, e)
	}()
}

// admit tells whether a job for session should start: not after
// Shutdown, and once per session. On true the job is counted in wg.
func (x *Executor) admit(session string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed || x.seen[session] {
		return false
	}
	x.wg.Add(1)
	x.seen[session] = true
	x.order = append(x.order, session)
	if len(x.order) > maxSeen {
		delete(x.seen, x.order[0])
		x.order = x.order[1:]
	}
	return true
}

// Shutdown kills running jobs and waits for them within ctx. It is
// idempotent.
func (x *Executor) Shutdown(ctx context.Context) error {
	x.mu.Lock()
	x.closed = true
	x.mu.Unlock()
	x.cancel()
	return waitctx.Wait(ctx, &x.wg)
}

func (x *Executor) token() string {
	if x.deps.Token == nil {
		return ""
	}
	return x.deps.Token()
}

// run is one job, from reading its spec to writing its exit code.
func (x *Executor) run(ctx context.Context, e Event) {
	spec, ok := x.getSpec(ctx, e)
	if !ok {
		return
	}
	if !x.write(ctx, e, ackSuffix, nil) {
		return
	}
	exitCode := 0
	defer func() { x.write(ctx, e, exitSuffix, []byte(strconv.Itoa(exitCode))) }()

	wait := spec.Wait
	if wait <= 0 {
		wait = x.cfg.DefaultWait
	}
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := x.command(jobCtx, spec)
	if cmd == nil {
		x.logger.Error("remote exec job has no command", "session", e.Session)
		exitCode = 255
		return
	}
	x.logger.Info("remote exec", "session", e.Session, "command", cmd.Args)
	out := &chunkWriter{ch: make(chan []byte, 16), done: jobCtx.Done()}
	cmd.Stdout, cmd.Stderr = out, out
	// A background grandchild holding the output open does not hold the
	// job past its command's exit for long.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		x.logger.Error("failed to start remote exec command", "error", err)
		exitCode = 255
		return
	}
	exitCh := make(chan int, 1)
	go func() {
		err := cmd.Wait()
		close(out.ch)
		exitCh <- exitStatus(cmd, err)
	}()

	if !x.stream(jobCtx, e, out.ch, wait) {
		cancel()
		<-exitCh
		exitCode = 255
		return
	}
	exitCode = <-exitCh
}

// stream writes the command's output as chunks until it ends; false when a
// write failed (the session is gone, or ACLs refuse it).
func (x *Executor) stream(ctx context.Context, e Event, data <-chan []byte, wait time.Duration) bool {
	num := 0
	put := func(b []byte) bool {
		ok := x.write(ctx, e, path.Join(outDivider, fmt.Sprintf("%05x", num)), b)
		num++
		return ok
	}
	var buf []byte
	var idle <-chan time.Time
	heartbeat := time.NewTimer(wait)
	defer heartbeat.Stop()
	reset := func() {
		heartbeat.Stop()
		heartbeat = time.NewTimer(wait)
	}
	for {
		select {
		case p, ok := <-data:
			if !ok {
				if len(buf) > 0 {
					return put(buf)
				}
				return true
			}
			buf = append(buf, p...)
			for len(buf) >= x.cfg.OutputSize {
				if !put(buf[:x.cfg.OutputSize]) {
					return false
				}
				buf = append([]byte(nil), buf[x.cfg.OutputSize:]...)
				reset()
			}
			if len(buf) > 0 && idle == nil {
				idle = time.After(x.cfg.OutputIdle)
			}
		case <-idle:
			idle = nil
			if len(buf) > 0 {
				if !put(buf) {
					return false
				}
				buf = nil
				reset()
			}
		case <-heartbeat.C:
			// Nothing to say: an empty chunk tells the CLI we are alive.
			if !put(nil) {
				return false
			}
			reset()
		case <-ctx.Done():
			return false
		}
	}
}

// command builds the job's process, in a process group of its own that
// cancelling ctx kills; nil when the spec has nothing to run.
func (x *Executor) command(ctx context.Context, spec Spec) *exec.Cmd {
	cmd := x.newCommand(ctx, spec)
	if cmd != nil {
		ownProcessGroup(cmd)
	}
	return cmd
}

func (x *Executor) newCommand(ctx context.Context, spec Spec) *exec.Cmd {
	if len(spec.Args) > 0 {
		return exec.CommandContext(ctx, spec.Args[0], spec.Args[1:]...)
	}
	script := spec.Command
	if script == "" {
		script = string(spec.Script)
	}
	if script == "" {
		return nil
	}
	sh := x.cfg.Shell
	if sh == "" {
		if sh = os.Getenv("SHELL"); sh == "" {
			sh = "/bin/sh"
		}
	}
	return exec.CommandContext(ctx, sh, "-c", script)
}

// getSpec reads the job: a stale read first (any server), then a
// consistent one if the stale read did not find it yet, as Consul.
func (x *Executor) getSpec(ctx context.Context, e Event) (Spec, bool) {
	req := structs.KeyRequest{Datacenter: x.cfg.Datacenter, Key: path.Join(e.Prefix, e.Session, jobKey)}
	req.Token = x.token()
	for _, stale := range []bool{true, false} {
		req.AllowStale = stale
		var out structs.IndexedDirEntries
		if err := x.deps.RPC(ctx, structs.MethodKVSGet, &req, &out); err != nil {
			x.logger.Error("failed to get remote exec job", "error", err)
			return Spec{}, false
		}
		if len(out.Entries) == 0 {
			continue
		}
		var spec Spec
		if err := json.Unmarshal(out.Entries[0].Value, &spec); err != nil {
			x.logger.Error("failed to decode remote exec job", "error", err)
			return Spec{}, false
		}
		return spec, true
	}
	x.logger.Debug("remote exec aborted, job spec missing", "session", e.Session)
	return Spec{}, false
}

// write puts value at <prefix>/<session>/<node>/<suffix> as a lock
// acquisition with the job's session.
func (x *Executor) write(ctx context.Context, e Event, suffix string, value []byte) bool {
	req := structs.KVSRequest{
		Datacenter: x.cfg.Datacenter,
		Op:         structs.KVLock,
		DirEnt: structs.DirEntry{
			Key:     path.Join(e.Prefix, e.Session, x.cfg.NodeName, suffix),
			Value:   value,
			Session: e.Session,
		},
	}
	req.Token = x.token()
	var ok bool
	if err := x.deps.RPC(context.WithoutCancel(ctx), structs.MethodKVSApply, &req, &ok); err != nil {
		x.logger.Error("failed to write remote exec result", "key", req.DirEnt.Key, "error", err)
		return false
	}
	if !ok {
		x.logger.Warn("remote exec write refused (session gone?)", "key", req.DirEnt.Key)
		return false
	}
	return true
}

// exitStatus is the command's exit code once Wait returned err: its
// status, -1 when a signal killed it (as Consul reports it), or 1 when it
// could not be waited for. A grandchild that kept the output open past
// WaitDelay does not change the command's own status.
func exitStatus(cmd *exec.Cmd, err error) int {
	if cmd.ProcessState != nil {
		return cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return 1
}

// chunkWriter hands the command's output to the streaming loop. Stdout
// and stderr share it (one pipe, one copying goroutine).
type chunkWriter struct {
	ch   chan []byte
	done <-chan struct{}
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	b := append([]byte(nil), p...)
	select {
	case w.ch <- b:
		return len(p), nil
	case <-w.done:
		return 0, context.Canceled
	}
}
