package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

// Consul's debug defaults and limits.
const (
	debugInterval    = 30 * time.Second
	debugDuration    = 5 * time.Minute
	debugMinInterval = 5 * time.Second
	debugMinDuration = 10 * time.Second
	// debugGrace lets the last interval finish within the duration.
	debugGrace = 2 * time.Second
	// debugProtocolVersion is index.json's Version: the bundle layout.
	debugProtocolVersion = 1
	// debugTimeFormat names the interval directories: RFC 3339 without
	// colons, which tar would read as a remote host.
	debugTimeFormat = "2006-01-02T15-04-05Z0700"
)

// The capture targets, in Consul's order; "cluster" is the deprecated
// name of "members".
var debugTargets = []string{"metrics", "logs", "pprof", "host", "agent", "members"}

// debugIndex is index.json at the root of the bundle.
type debugIndex struct {
	Version      int
	AgentVersion string
	Interval     string
	Duration     string
	Targets      []string
}

func (e *env) debugCommand() *cli.Command {
	return &cli.Command{
		Name:  "debug",
		Usage: "Records a debugging archive of an agent: its configuration, members, metrics, logs and profiles",
		Description: "Monitors an agent for -duration, capturing metrics and profiles every -interval and its logs\n" +
			"throughout, and writes them with the agent's configuration, members and host information\n" +
			"to -output (a .tar.gz unless -archive=false). Profiles need enable_debug on the agent.",
		Flags: withFlags(httpFlags(), []cli.Flag{
			&cli.StringSliceFlag{Name: "capture", Usage: "what to capture (repeatable): " + strings.Join(debugTargets, ", ") + " (default: all)"},
			&cli.DurationFlag{Name: "interval", Value: debugInterval, Usage: "how often to capture metrics and profiles (at least 5s)"},
			&cli.DurationFlag{Name: "duration", Value: debugDuration, Usage: "how long to capture for (at least 10s)"},
			&cli.StringFlag{Name: "output", Usage: "path of the bundle, without .tar.gz (default consul-debug-<time>)"},
			&cli.BoolFlag{Name: "archive", Value: true, Usage: "write a .tar.gz and remove the directory"},
			&cli.StringFlag{Name: "since", Usage: "not supported: Consul runs hcdiag for it"},
			// For tests: lets -duration and -interval go below the minimums.
			&cli.BoolFlag{Name: "skip-timing-checks", Hidden: true},
		}),
		Action: e.withClient(e.runDebug),
	}
}

// debugRun is one `debug` invocation.
type debugRun struct {
	e                  *env
	cl                 *api.Client
	out                string
	interval, duration time.Duration
	capture            []string

	// mu guards errs.
	mu   sync.Mutex
	errs []error
}

func (e *env) runDebug(c *cli.Context, cl *api.Client) error {
	if c.IsSet("since") {
		return errors.New("debug: -since is not supported (Consul runs hcdiag for it)")
	}
	d := &debugRun{
		e: e, cl: cl, out: c.String("output"), interval: c.Duration("interval"), duration: c.Duration("duration"),
		capture: c.StringSlice("capture"),
	}
	if d.out == "" {
		d.out = "consul-debug-" + time.Now().Format(debugTimeFormat)
	}
	d.out = strings.TrimRight(filepath.Clean(d.out), string(filepath.Separator))
	version, err := d.prepare(!c.Bool("skip-timing-checks"))
	if err != nil {
		return fmt.Errorf("Capture validation failed: %w", err)
	}
	name := d.out
	if c.Bool("archive") {
		name += ".tar.gz"
	}
	fmt.Fprintln(e.stdout, "==> Starting debugger and capturing static information...")
	fmt.Fprintf(e.stdout, "     Agent Version: '%s'\n", version)
	fmt.Fprintf(e.stdout, "          Interval: '%s'\n", d.interval)
	fmt.Fprintf(e.stdout, "          Duration: '%s'\n", d.duration)
	fmt.Fprintf(e.stdout, "            Output: '%s'\n", name)
	fmt.Fprintf(e.stdout, "           Capture: '%s'\n", strings.Join(d.capture, ", "))

	d.duration += debugGrace
	d.captureStatic()
	if d.has("metrics") || d.has("logs") || d.has("pprof") {
		ctx, cancel := context.WithTimeout(c.Context, d.duration)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); d.captureIntervals(ctx) }()
		go func() { defer wg.Done(); d.captureLongRunning(ctx) }()
		wg.Wait()
		cancel()
		if c.Context.Err() != nil {
			fmt.Fprintln(e.stderr, "==> Stopping collection due to shutdown signal; archiving what was captured")
		}
	}
	for _, err := range d.errs {
		fmt.Fprintf(e.stderr, "==> Capture error: %v\n", err)
	}
	index := debugIndex{
		Version: debugProtocolVersion, AgentVersion: version, Interval: d.interval.String(),
		Duration: d.duration.String(), Targets: d.capture,
	}
	if err := writeDebugJSON(filepath.Join(d.out, "index.json"), index); err != nil {
		return fmt.Errorf("Error creating index document: %w", err)
	}
	if c.Bool("archive") {
		if err := archiveDir(d.out, name); err != nil {
			return fmt.Errorf("Archive creation failed: %w", err)
		}
	}
	fmt.Fprintf(e.stdout, "    Saved debug archive: %s\n", name)
	return nil
}

// prepare checks the flags against the agent, drops pprof when the agent
// does not serve profiles, and creates the output directory. It returns
// the agent's version.
func (d *debugRun) prepare(checkTiming bool) (string, error) {
	if checkTiming {
		if d.duration < debugMinDuration {
			return "", fmt.Errorf("duration must be longer than %s", debugMinDuration)
		}
		if d.interval < debugMinInterval {
			return "", fmt.Errorf("interval must be longer than %s", debugMinInterval)
		}
	}
	if d.interval <= 0 || d.duration <= 0 {
		return "", errors.New("duration and interval must be positive")
	}
	if d.duration < d.interval {
		return "", fmt.Errorf("duration (%s) must be longer than interval (%s)", d.duration, d.interval)
	}
	self, err := d.cl.Agent().Self()
	if err != nil {
		return "", fmt.Errorf("error querying target agent: %s. verify connectivity and agent address", err)
	}
	version, _ := self["Config"]["Version"].(string)
	if version == "" {
		return "", errors.New("agent response did not contain version key")
	}
	if len(d.capture) == 0 {
		d.capture = append([]string(nil), debugTargets...)
	}
	for _, t := range d.capture {
		if t != "cluster" && !contains(debugTargets, t) {
			return version, fmt.Errorf("target not found: %s", t)
		}
	}
	if enabled, _ := self["DebugConfig"]["EnableDebug"].(bool); !enabled && d.has("pprof") {
		kept := d.capture[:0]
		for _, t := range d.capture {
			if t != "pprof" {
				kept = append(kept, t)
			}
		}
		d.capture = kept
		fmt.Fprintln(d.e.stderr, "[WARN] Unable to capture pprof. Set enable_debug to true on target agent to enable profiling.")
	}
	if _, err := os.Stat(d.out); err == nil {
		return version, fmt.Errorf("output directory already exists: %s", d.out)
	}
	if err := os.MkdirAll(d.out, 0o755); err != nil {
		return version, fmt.Errorf("could not create output directory: %s", err)
	}
	return version, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// has reports whether target is captured.
func (d *debugRun) has(target string) bool {
	return contains(d.capture, target) || (target == "members" && contains(d.capture, "cluster"))
}

func (d *debugRun) fail(err error) {
	d.mu.Lock()
	d.errs = append(d.errs, err)
	d.mu.Unlock()
}

// captureStatic writes host.json, agent.json and members.json. An agent
// without /v1/agent/host gets no host.json.
func (d *debugRun) captureStatic() {
	if d.has("host") {
		host, err := d.cl.Agent().Host()
		var se api.StatusError
		switch {
		case errors.As(err, &se) && se.Code == http.StatusNotFound:
			fmt.Fprintln(d.e.stderr, "[WARN] The agent does not serve /v1/agent/host; host.json is left out.")
		case err != nil:
			d.fail(fmt.Errorf("host: %w", err))
		default:
			d.write("host.json", host)
		}
	}
	if d.has("agent") {
		if self, err := d.cl.Agent().Self(); err != nil {
			d.fail(fmt.Errorf("agent: %w", err))
		} else {
			d.write("agent.json", self)
		}
	}
	if d.has("members") {
		// The LAN members (Consul 1.16 writes the WAN pool here, which a
		// client agent does not have).
		if members, err := d.cl.Agent().Members(false); err != nil {
			d.fail(fmt.Errorf("members: %w", err))
		} else {
			d.write("members.json", members)
		}
	}
}

func (d *debugRun) write(name string, v any) {
	if err := writeDebugJSON(filepath.Join(d.out, name), v); err != nil {
		d.fail(err)
	}
}

func writeDebugJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// captureIntervals captures at once and then every interval until ctx
// ends: a directory per capture, named by its time, holding metrics.json
// and the heap and goroutine profiles.
func (d *debugRun) captureIntervals(ctx context.Context) {
	if !d.has("metrics") && !d.has("pprof") {
		return
	}
	tick := time.NewTicker(d.interval)
	defer tick.Stop()
	for n := 0; ; n++ {
		now := time.Now().UTC()
		if n == 0 {
			fmt.Fprintf(d.e.stdout, "==> Beginning capture interval %s (%d)\n", now, n)
		}
		if err := d.captureOnce(now); err != nil {
			d.fail(err)
		} else {
			fmt.Fprintf(d.e.stdout, "==> Capture successful %s (%d)\n", now, n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (d *debugRun) captureOnce(now time.Time) error {
	dir := filepath.Join(d.out, now.Format(debugTimeFormat))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("failed to create output directory %v: %w", dir, err)
	}
	var errs []error
	if d.has("metrics") {
		// Raw, so fields the client's MetricsInfo lacks are kept.
		var m json.RawMessage
		if _, err := d.cl.Raw().Query("/v1/agent/metrics", &m, nil); err != nil {
			errs = append(errs, fmt.Errorf("metrics: %w", err))
		} else if err := writeDebugJSON(filepath.Join(dir, "metrics.json"), m); err != nil {
			errs = append(errs, err)
		}
	}
	if d.has("pprof") {
		for _, p := range []struct {
			name string
			get  func() ([]byte, error)
		}{{"heap.prof", d.cl.Debug().Heap}, {"goroutine.prof", d.cl.Debug().Goroutine}} {
			b, err := p.get()
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, p.name), b, 0o644)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// captureLongRunning records what spans the whole run: the CPU profile
// (profile.prof) and an execution trace of one interval (trace.out) with
// pprof, and the agent's logs at trace level (consul.log, Consul's name,
// which tools reading bundles expect).
func (d *debugRun) captureLongRunning(ctx context.Context) {
	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	if d.has("pprof") {
		// A profile of 0 seconds would be the handler's default of 30.
		secs := max(1, int((d.duration-debugGrace)/time.Second))
		run(func() { d.pprofToFile(ctx, "profile", secs, "profile.prof") })
		run(func() { d.pprofToFile(ctx, "trace", max(1, int(d.interval/time.Second)), "trace.out") })
	}
	if d.has("logs") {
		run(func() { d.captureLogs(ctx) })
	}
	wg.Wait()
}

func (d *debugRun) pprofToFile(ctx context.Context, name string, secs int, file string) {
	// The profile runs for secs; it must not be cut by the run's
	// deadline, only by an interrupt.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if ctx.Err() == context.Canceled {
			cancel()
		}
	})
	defer stop()
	body, err := d.cl.Debug().PProf(pctx, name, secs)
	if err != nil {
		d.fail(fmt.Errorf("%s: %w", name, err))
		return
	}
	defer body.Close()
	f, err := os.Create(filepath.Join(d.out, file))
	if err != nil {
		d.fail(err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, body); err != nil {
		d.fail(fmt.Errorf("%s: %w", name, err))
	}
}

func (d *debugRun) captureLogs(ctx context.Context) {
	f, err := os.Create(filepath.Join(d.out, "consul.log"))
	if err != nil {
		d.fail(err)
		return
	}
	defer f.Close()
	lines, err := d.cl.Agent().Monitor("TRACE", ctx.Done(), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		d.fail(fmt.Errorf("logs: %w", err))
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case line, ok := <-lines:
			if !ok {
				return
			}
			if _, err := io.WriteString(f, strings.TrimRight(line, "\n")+"\n"); err != nil {
				d.fail(err)
				return
			}
		}
	}
}

// archiveDir writes dir as a gzipped tar at path (entries under dir's base
// name, as Consul) through a temporary file, then removes dir.
func archiveDir(dir, path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	gz := gzip.NewWriter(tmp)
	tw := tar.NewWriter(gz)
	base := filepath.Base(dir)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(filepath.Join(base, rel))
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	for _, c := range []io.Closer{tw, gz} {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}
