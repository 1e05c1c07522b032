package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

// As Consul's lock command: a lost lock's child gets SIGTERM, then SIGKILL
// after the grace period; failed lock monitoring reads are retried every
// second, -monitor-retry times.
const (
	lockKillGracePeriod     = 5 * time.Second
	defaultMonitorRetry     = 3
	defaultMonitorRetryTime = time.Second
)

func (e *env) lockCommand() *cli.Command {
	return &cli.Command{
		Name:      "lock",
		Usage:     "Execute a command holding a lock",
		ArgsUsage: "prefix child...",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.StringFlag{Name: "datacenter", Usage: "datacenter of the lock (default: the agent's)"},
			&cli.IntFlag{Name: "n", Value: 1, Usage: "optional limit on the number of concurrent lock holders; above 1 a semaphore is used"},
			&cli.StringFlag{Name: "name", Usage: "optional name to associate with the lock session (default: one derived from the prefix and child)"},
			&cli.BoolFlag{Name: "pass-stdin", Usage: "pass stdin to the child process"},
			&cli.BoolFlag{Name: "shell", Value: true, Usage: "run the child under a shell (-shell=false runs it directly)"},
			&cli.DurationFlag{Name: "timeout", Aliases: []string{"try"}, Usage: "maximum time to wait for the lock; 0 waits forever"},
			&cli.IntFlag{Name: "monitor-retry", Value: defaultMonitorRetry, Usage: "retries on 500 errors while monitoring the lock; 0 gives up on the first"},
			&cli.BoolFlag{Name: "child-exit-code", Usage: "exit 2 when the child exits with an error (otherwise its failure is not propagated)"},
			&cli.BoolFlag{Name: "verbose", Usage: "print what the command does"},
		}),
		// Flags after the prefix belong to the child.
		Action: e.lock,
	}
}

// lockHandle is a lock or a semaphore behind one set of functions.
type lockHandle struct {
	lockFn    func(<-chan struct{}) (<-chan struct{}, error)
	unlockFn  func() error
	cleanupFn func() error
	inUseErr  error
}

// lockRun is one invocation's state: the child runs while the lock is held.
type lockRun struct {
	e       *env
	verbose bool

	// childMu keeps a kill from racing the child's start; once the lock
	// is lost it is held so no child starts again.
	childMu sync.Mutex
	child   *exec.Cmd
}

func (r *lockRun) info(msg string) {
	if r.verbose {
		fmt.Fprintln(r.e.stdout, msg)
	}
}

func (e *env) lock(c *cli.Context) error {
	limit := c.Int("n")
	if limit <= 0 {
		return fmt.Errorf("Lock holder limit must be positive")
	}
	args := c.Args().Slice()
	if len(args) < 2 {
		return fmt.Errorf("Key prefix and child command must be specified")
	}
	prefix := strings.TrimPrefix(args[0], "/")
	childArgs := args[1:]
	timeout := c.Duration("timeout")
	if timeout < 0 {
		return fmt.Errorf("Timeout must be positive")
	}
	name := c.String("name")
	if name == "" {
		name = fmt.Sprintf("Consul lock for '%s' at '%s'", strings.Join(childArgs, " "), prefix)
	}
	retry := c.Int("monitor-retry")
	if retry < 0 {
		return fmt.Errorf("Number for 'monitor-retry' must be >= 0")
	}
	// Release and cleanup run after an interrupt too.
	// The lock's own requests carry no options: the client's datacenter
	// is the one they use.
	cl, err := e.clientCtx(c, context.WithoutCancel(c.Context), c.String("datacenter"))
	if err != nil {
		return fmt.Errorf("Error connecting to Consul agent: %w", err)
	}
	if _, err := cl.Agent().NodeName(); err != nil {
		return fmt.Errorf("Error querying Consul agent: %w", err)
	}

	r := &lockRun{e: e, verbose: c.Bool("verbose")}
	oneshot := timeout > 0
	var lh *lockHandle
	if limit == 1 {
		lh, err = r.setupLock(cl, prefix, name, oneshot, timeout, retry)
	} else {
		lh, err = r.setupSemaphore(cl, limit, prefix, name, oneshot, timeout, retry)
	}
	if err != nil {
		return fmt.Errorf("Lock setup failed: %w", err)
	}

	// Interrupts (the context) stop the wait and, once held, the child.
	shutdownCh := make(chan struct{})
	go func() {
		<-c.Context.Done()
		close(shutdownCh)
	}()

	r.info("Attempting lock acquisition")
	lockCh, err := lh.lockFn(shutdownCh)
	if lockCh == nil {
		if err == nil {
			return fmt.Errorf("Shutdown triggered or timeout during lock acquisition")
		}
		return fmt.Errorf("Lock acquisition failed: %w", err)
	}

	childCode := 0
	select {
	case <-shutdownCh:
		fmt.Fprintln(e.stderr, "Shutdown triggered during lock acquisition")
	default:
		childCode = r.holdAndRun(shutdownCh, lockCh, childArgs, c.Bool("pass-stdin"), c.Bool("shell"), c.Bool("child-exit-code"))
	}

	// Release the lock before leaving, then remove it if nobody else uses it.
	if err := lh.unlockFn(); err != nil {
		return fmt.Errorf("Lock release failed: %w", err)
	}
	if err := lh.cleanupFn(); err != nil {
		if !errors.Is(err, lh.inUseErr) {
			return fmt.Errorf("Lock cleanup failed: %w", err)
		}
		r.info("Cleanup aborted, lock in use")
	} else {
		r.info("Cleanup succeeded")
	}
	if childCode != 0 {
		return &exitError{code: childCode, silent: true}
	}
	return nil
}

// holdAndRun runs the child while the lock is held and returns the exit
// status the command should end with.
func (r *lockRun) holdAndRun(shutdownCh, lockCh <-chan struct{}, args []string, passStdin, shell, childExitCode bool) int {
	// Signals other than interrupts go to the child as they are (caught
	// before the child starts, so none is lost in between).
	sigCh := make(chan os.Signal, 4)
	signal.Notify(sigCh, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigCh)

	childErr := make(chan error, 1)
	started := make(chan struct{})
	go func() { childErr <- r.startChild(args, passStdin, shell, started) }()

	for {
		select {
		case sig := <-sigCh:
			r.childMu.Lock()
			if r.child != nil && r.child.Process != nil {
				r.child.Process.Signal(sig)
			}
			r.childMu.Unlock()
			continue
		case <-shutdownCh:
			r.info("Shutdown triggered, killing child")
		case <-lockCh:
			r.info("Lock lost, killing child")
		case err := <-childErr:
			r.info("Child terminated, releasing lock")
			if err != nil && childExitCode {
				return 2
			}
			return 0
		}
		break
	}
	// No child starts after this point; the lock is not held any more
	// (or we are leaving).
	<-started
	r.childMu.Lock()
	defer r.childMu.Unlock()
	if err := r.killChild(childErr); err != nil {
		fmt.Fprintln(r.e.stderr, err)
	}
	return 0
}

// startChild runs the child to its end; started is closed once the child
// runs (or failed to).
func (r *lockRun) startChild(args []string, passStdin, shell bool, started chan struct{}) error {
	r.info("Starting handler")
	r.childMu.Lock()
	var cmd *exec.Cmd
	if shell {
		cmd = shellCommand(strings.Join(args, " "))
	} else {
		cmd = exec.Command(args[0], args[1:]...)
	}
	cmd.Env = append(os.Environ(), "CONSUL_LOCK_HELD=true")
	if passStdin {
		r.info("Stdin passed to handler process")
		cmd.Stdin = r.e.stdin
	}
	cmd.Stdout = r.e.stdout
	cmd.Stderr = r.e.stderr
	err := cmd.Start()
	if err == nil {
		r.child = cmd
	}
	r.childMu.Unlock()
	close(started)
	if err != nil {
		fmt.Fprintf(r.e.stderr, "Error starting handler: %s\n", err)
		return err
	}
	if err := cmd.Wait(); err != nil {
		fmt.Fprintf(r.e.stderr, "Error running handler: %s\n", err)
		return err
	}
	return nil
}

// killChild terminates the child: SIGTERM, then SIGKILL after the grace
// period. The caller holds childMu.
func (r *lockRun) killChild(childErr <-chan error) error {
	child := r.child
	if child == nil || child.Process == nil {
		r.info("No child process to kill")
		return nil
	}
	pid := child.Process.Pid
	r.info(fmt.Sprintf("Terminating child pid %d", pid))
	if err := child.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("Failed to terminate %d: %v", pid, err)
	}
	select {
	case <-childErr:
		r.info("Child terminated")
		return nil
	case <-time.After(lockKillGracePeriod):
		r.info(fmt.Sprintf("Child did not exit after grace period of %v", lockKillGracePeriod))
	}
	r.info(fmt.Sprintf("Killing child pid %d", pid))
	if err := child.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("Failed to kill %d: %v", pid, err)
	}
	<-childErr
	return nil
}

// shellCommand runs script under $SHELL (default /bin/sh) -c, as Consul
// runs lock children, exec jobs and watch handlers.
func shellCommand(script string) *exec.Cmd {
	sh := os.Getenv("SHELL")
	if sh == "" {
		sh = "/bin/sh"
	}
	return exec.Command(sh, "-c", script)
}

func (r *lockRun) setupLock(cl *api.Client, prefix, name string, oneshot bool, wait time.Duration, retry int) (*lockHandle, error) {
	// The lock key is the semaphore's key, so a lock and a semaphore on
	// one prefix conflict visibly instead of both being held.
	key := path.Join(prefix, api.DefaultSemaphoreKey)
	r.info(fmt.Sprintf("Setting up lock at path: %s", key))
	opts := api.LockOptions{
		Key:              key,
		SessionName:      name,
		MonitorRetries:   retry,
		MonitorRetryTime: defaultMonitorRetryTime,
	}
	if oneshot {
		opts.LockTryOnce = true
		opts.LockWaitTime = wait
	}
	l, err := cl.LockOpts(&opts)
	if err != nil {
		return nil, err
	}
	return &lockHandle{lockFn: l.Lock, unlockFn: l.Unlock, cleanupFn: l.Destroy, inUseErr: api.ErrLockInUse}, nil
}

func (r *lockRun) setupSemaphore(cl *api.Client, limit int, prefix, name string, oneshot bool, wait time.Duration, retry int) (*lockHandle, error) {
	r.info(fmt.Sprintf("Setting up semaphore (limit %d) at prefix: %s", limit, prefix))
	opts := api.SemaphoreOptions{
		Prefix:           prefix,
		Limit:            limit,
		SessionName:      name,
		MonitorRetries:   retry,
		MonitorRetryTime: defaultMonitorRetryTime,
	}
	if oneshot {
		opts.SemaphoreTryOnce = true
		opts.SemaphoreWaitTime = wait
	}
	s, err := cl.SemaphoreOpts(&opts)
	if err != nil {
		return nil, err
	}
	return &lockHandle{lockFn: s.Acquire, unlockFn: s.Release, cleanupFn: s.Destroy, inUseErr: api.ErrSemaphoreInUse}, nil
}
