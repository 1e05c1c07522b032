package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"consulate/agent"
	"consulate/config"
)

// startDebugAgent runs a dev agent in-process on ip with its HTTP API on
// port 18540 and returns the API address.
func startDebugAgent(t *testing.T, ip string, enableDebug bool) string {
	t.Helper()
	i := func(v int) *int { return &v }
	s := func(v string) *string { return &v }
	opts := config.LoadOpts{Dev: true, Flags: &config.Config{
		NodeName: s("debug-" + strings.ReplaceAll(ip, ".", "-")), BindAddr: s(ip), ClientAddr: s(ip),
		Ports: &config.Ports{HTTP: i(18540), DNS: i(-1), Server: i(18340), SerfLAN: i(18341), SerfWAN: i(18342)},
	}}
	rt, err := config.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	rt.EnableDebug = enableDebug
	a, err := agent.New(rt, agent.Options{LoadOpts: opts, LogOutput: io.Discard, Version: "1.16.0-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		a.Shutdown(sctx)
	})
	return net.JoinHostPort(ip, "18540")
}

// untar reads a .tar.gz into name → contents (directories end in "/").
func untar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = b
	}
}

func TestDebugBundleFromLiveAgent(t *testing.T) {
	addr := startDebugAgent(t, "127.0.15.40", true)
	out := filepath.Join(t.TempDir(), "bundle")

	// Reloads log a line each, for the captured logs.
	stop := make(chan struct{})
	reloads := make(chan struct{})
	go func() {
		defer close(reloads)
		c := &http.Client{Timeout: 2 * time.Second}
		for i := 0; i < 100; i++ {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/v1/agent/reload", nil)
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}()
	r := runCLI(t, map[string]string{"CONSULATE_HTTP_ADDR": addr}, "",
		"debug", "-duration", "2s", "-interval", "1s", "-output", out, "-skip-timing-checks")
	close(stop)
	<-reloads
	if r.code != 0 {
		t.Fatalf("debug exited %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"Starting debugger and capturing static information", "Agent Version: '1.16.0-test'",
		"Capture: 'metrics, logs, pprof, host, agent, members'", "Saved debug archive: " + out + ".tar.gz"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output directory left after archiving: %v", err)
	}
	files := untar(t, out+".tar.gz")
	get := func(name string) []byte {
		t.Helper()
		b, ok := files["bundle/"+name]
		if !ok {
			names := make([]string, 0, len(files))
			for n := range files {
				names = append(names, n)
			}
			t.Fatalf("bundle has no %s; it has %v", name, names)
		}
		return b
	}
	var index debugIndex
	if err := json.Unmarshal(get("index.json"), &index); err != nil {
		t.Fatal(err)
	}
	if index.Version != 1 || index.AgentVersion != "1.16.0-test" || len(index.Targets) != 6 || index.Interval != "1s" {
		t.Errorf("index.json = %+v", index)
	}
	var self map[string]map[string]any
	if err := json.Unmarshal(get("agent.json"), &self); err != nil || self["Config"]["NodeName"] != "debug-127-0-15-40" {
		t.Errorf("agent.json: %v %v", err, self["Config"])
	}
	var members []map[string]any
	if err := json.Unmarshal(get("members.json"), &members); err != nil || len(members) != 1 || members[0]["Name"] != "debug-127-0-15-40" {
		t.Errorf("members.json: %v %v", err, members)
	}
	// host.json exists when the agent serves /v1/agent/host.
	if b, ok := files["bundle/host.json"]; ok && !json.Valid(b) {
		t.Errorf("host.json is not JSON: %q", b)
	} else if !ok && !strings.Contains(r.stderr, "does not serve /v1/agent/host") {
		t.Errorf("no host.json and no warning about it: %s", r.stderr)
	}
	if logs := get("consul.log"); !bytes.Contains(logs, []byte("configuration reloaded")) {
		t.Errorf("consul.log lacks the agent's log lines:\n%s", logs)
	}
	for _, p := range []string{"profile.prof"} {
		if b := get(p); len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s is not a gzipped pprof profile (%d bytes)", p, len(b))
		}
	}
	if len(get("trace.out")) == 0 {
		t.Error("trace.out is empty")
	}
	// Interval directories: one at the start, then one per interval.
	intervals := 0
	for name := range files {
		dir, ok := strings.CutSuffix(name, "/metrics.json")
		if !ok {
			continue
		}
		intervals++
		var m map[string]any
		if err := json.Unmarshal(files[name], &m); err != nil {
			t.Errorf("%s: %v", name, err)
		} else if _, ok := m["Gauges"]; !ok {
			t.Errorf("%s lacks Gauges: %v", name, m)
		}
		for _, p := range []string{"heap.prof", "goroutine.prof"} {
			if b := files[dir+"/"+p]; len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
				t.Errorf("%s/%s is not a gzipped pprof profile", dir, p)
			}
		}
		if _, err := time.Parse(debugTimeFormat, strings.TrimPrefix(dir, "bundle/")); err != nil {
			t.Errorf("interval directory %s is not named by its time: %v", dir, err)
		}
	}
	if intervals < 2 {
		t.Errorf("%d interval captures, want at least 2 over 2s at 1s", intervals)
	}
}

func TestDebugWithoutEnableDebugSkipsProfiles(t *testing.T) {
	addr := startDebugAgent(t, "127.0.15.41", false)
	out := filepath.Join(t.TempDir(), "dir")
	r := runCLI(t, map[string]string{"CONSULATE_HTTP_ADDR": addr}, "",
		"debug", "-duration", "1s", "-interval", "1s", "-output", out, "-archive=false", "-skip-timing-checks",
		"-capture", "agent", "-capture", "cluster", "-capture", "pprof", "-capture", "metrics")
	if r.code != 0 {
		t.Fatalf("debug exited %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "Unable to capture pprof. Set enable_debug to true") {
		t.Errorf("no warning about pprof: %s", r.stderr)
	}
	for _, name := range []string{"index.json", "agent.json", "members.json"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("-archive=false: %v", err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(out, "*", "metrics.json")); len(m) == 0 {
		t.Error("no metrics.json in an interval directory")
	}
	if m, _ := filepath.Glob(filepath.Join(out, "*", "*.prof")); len(m) != 0 {
		t.Errorf("profiles captured without enable_debug: %v", m)
	}
	for _, name := range []string{"host.json", "consul.log", "profile.prof"} {
		if _, err := os.Stat(filepath.Join(out, name)); err == nil {
			t.Errorf("%s captured though not asked for", name)
		}
	}
	var index debugIndex
	b, _ := os.ReadFile(filepath.Join(out, "index.json"))
	if err := json.Unmarshal(b, &index); err != nil || strings.Join(index.Targets, ",") != "agent,cluster,metrics" {
		t.Errorf("index targets %v (%v)", index.Targets, err)
	}

	// The output must not exist yet.
	r = runCLI(t, map[string]string{"CONSULATE_HTTP_ADDR": addr}, "", "debug", "-output", out, "-capture", "agent")
	wantFail(t, r, 1, "Capture validation failed: output directory already exists: "+out)
}

func TestDebugValidation(t *testing.T) {
	addr := startDebugAgent(t, "127.0.15.42", false)
	env := map[string]string{"CONSULATE_HTTP_ADDR": addr}
	dir := t.TempDir()
	for i, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-duration", "5s"}, "Capture validation failed: duration must be longer than 10s"},
		{[]string{"-interval", "1s"}, "Capture validation failed: interval must be longer than 5s"},
		{[]string{"-duration", "10s", "-interval", "20s"}, "Capture validation failed: duration (10s) must be longer than interval (20s)"},
		{[]string{"-capture", "bogus"}, "Capture validation failed: target not found: bogus"},
		{[]string{"extra"}, "takes no arguments"},
	} {
		args := append([]string{"debug", "-output", filepath.Join(dir, strconv.Itoa(i))}, tc.args...)
		r := runCLI(t, env, "", args...)
		if r.code != 1 || !strings.Contains(strings.ToLower(r.stderr), strings.ToLower(tc.want)) {
			t.Errorf("%v: exit %d stderr %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	r := runCLI(t, map[string]string{"CONSULATE_HTTP_ADDR": "127.0.15.43:1"}, "", "debug", "-output", filepath.Join(dir, "x"))
	wantFail(t, r, 1, "Capture validation failed: error querying target agent")
}
