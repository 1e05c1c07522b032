package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHTTPAddrPrecedence(t *testing.T) {
	a, b, c := newFakeAgent(t), newFakeAgent(t), newFakeAgent(t)
	for _, f := range []*fakeAgent{a, b, c} {
		f.json("/v1/catalog/datacenters", []string{"dc1"})
	}
	hit := func(f *fakeAgent) bool { return f.count() > 0 }
	reset := func() {
		for _, f := range []*fakeAgent{a, b, c} {
			f.mu.Lock()
			f.reqs = nil
			f.mu.Unlock()
		}
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want *fakeAgent
	}{
		{"consulate env wins over consul env", map[string]string{"CONSULATE_HTTP_ADDR": a.addr(), "CONSUL_HTTP_ADDR": b.addr()}, nil, a},
		{"consul env used alone", map[string]string{"CONSUL_HTTP_ADDR": b.addr()}, nil, b},
		{"flag wins over both", map[string]string{"CONSULATE_HTTP_ADDR": a.addr(), "CONSUL_HTTP_ADDR": b.addr()}, []string{"-http-addr", c.addr()}, c},
		{"double-dash flag with scheme", map[string]string{"CONSULATE_HTTP_ADDR": a.addr()}, []string{"--http-addr=http://" + c.addr()}, c},
		{"scheme in env", map[string]string{"CONSULATE_HTTP_ADDR": "http://" + b.addr()}, nil, b},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reset()
			args := append([]string{"catalog", "datacenters"}, tc.args...)
			r := runCLI(t, tc.env, "", args...)
			wantOK(t, r)
			for _, f := range []*fakeAgent{a, b, c} {
				if hit(f) != (f == tc.want) {
					t.Fatalf("agent %s hit=%v, want only %s", f.addr(), hit(f), tc.want.addr())
				}
			}
		})
	}

	e := &env{getenv: func(string) string { return "" }}
	if got := e.resolveHTTPAddr(""); got != "127.0.0.1:8500" {
		t.Fatalf("default address %q", got)
	}
}

func TestTokenFromEnvAndFlag(t *testing.T) {
	f := newFakeAgent(t)
	var got []string
	f.handle("/v1/catalog/datacenters", func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("X-Consul-Token"))
		writeJSON(w, []string{"dc1"})
	})
	wantOK(t, runCLI(t, map[string]string{"CONSULATE_HTTP_ADDR": f.addr(), "CONSULATE_HTTP_TOKEN": "envtok"}, "", "catalog", "datacenters"))
	wantOK(t, runCLI(t, map[string]string{"CONSULATE_HTTP_ADDR": f.addr(), "CONSULATE_HTTP_TOKEN": "envtok"}, "", "catalog", "datacenters", "-token=flagtok"))
	if len(got) != 2 || got[0] != "envtok" || got[1] != "flagtok" {
		t.Fatalf("tokens %q", got)
	}
}

func TestBadInvocations(t *testing.T) {
	f := newFakeAgent(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"nosuchcommand"}, `unknown command "nosuchcommand"`},
		{[]string{"kv", "frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"operator", "raft", "nope"}, `unknown subcommand "nope"`},
		{[]string{"members", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"kv", "put", "--nope=1", "k"}, "flag provided but not defined: -nope"},
		{[]string{"kv", "put", "-modify-index=abc", "k"}, "invalid value"},
		{[]string{"-nope"}, "flag provided but not defined"},
		{[]string{"members", "extra"}, "takes no arguments"},
		{[]string{"join"}, "At least one address"},
		{[]string{"force-leave"}, "A single node name"},
		{[]string{"event"}, "Event name must be specified"},
		{[]string{"event", "-name=x", "-tag=t"}, "without service filter"},
		{[]string{"event", "-name=x", "-node=("}, "Failed to compile node regexp"},
		{[]string{"rtt"}, "One or two node names"},
		{[]string{"monitor", "extra"}, "takes no arguments"},
		{[]string{"watch"}, "-type is required"},
		{[]string{"watch", "-type=bogus"}, "Unsupported watch type"},
		{[]string{"exec"}, "Must specify a command to execute"},
		{[]string{"exec", "-tag=t", "uptime"}, "without service filter"},
		{[]string{"exec", "-node=(", "uptime"}, "Failed to compile node filter regexp"},
		{[]string{"exec", "-shell=false", "-"}, "Cannot configure -shell=false when reading from stdin"},
		{[]string{"lock", "prefix"}, "Key prefix and child command must be specified"},
		{[]string{"lock", "-n=0", "prefix", "true"}, "Lock holder limit must be positive"},
		{[]string{"lock", "-monitor-retry=-1", "prefix", "true"}, "Number for 'monitor-retry' must be >= 0"},
		{[]string{"maint", "-enable", "-disable"}, "Only one of -enable or -disable may be provided"},
		{[]string{"maint", "-reason=x"}, "Reason may only be provided with -enable"},
		{[]string{"maint", "-service=web"}, "Service requires either -enable or -disable"},
		{[]string{"version", "-format=xml"}, "Unknown format: xml"},
		{[]string{"snapshot", "save"}, "exactly one file name"},
		{[]string{"keyring"}, "Only a single action is allowed"},
		{[]string{"keyring", "-list", "-use=k"}, "Only a single action is allowed"},
		{[]string{"keyring", "-install=k", "-local-only"}, "Local-only must be used with"},
		{[]string{"keyring", "-list", "-relay-factor=6"}, "Relay factor must be in range"},
	}
	for _, tc := range cases {
		r := f.run(tc.args...)
		if r.code != 1 {
			t.Errorf("%v: exit %d, want 1 (stderr %q)", tc.args, r.code, r.stderr)
			continue
		}
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: stderr %q, want it to contain %q", tc.args, r.stderr, tc.want)
		}
	}
	if n := f.count(); n != 0 {
		t.Fatalf("invalid invocations made %d requests", n)
	}
}

func TestHelpAndVersion(t *testing.T) {
	r := runCLI(t, nil, "", "-h")
	wantOK(t, r)
	for _, cmd := range []string{"agent", "members", "join", "leave", "force-leave", "info", "keygen", "kv", "catalog", "services", "event", "operator", "rtt", "reload", "version", "monitor", "watch", "exec", "snapshot", "keyring", "tls"} {
		if !strings.Contains(r.stdout, "   "+cmd) {
			t.Errorf("help does not list %q:\n%s", cmd, r.stdout)
		}
	}
	r = runCLI(t, nil, "", "kv", "put", "-h")
	wantOK(t, r)
	if !strings.Contains(r.stdout, "-modify-index") {
		t.Fatalf("kv put help %q", r.stdout)
	}
	r = runCLI(t, nil, "")
	if r.code != 1 || !strings.Contains(r.stdout, "COMMANDS") {
		t.Fatalf("no args: exit %d stdout %q", r.code, r.stdout)
	}

	for _, args := range [][]string{{"version"}, {"-v"}, {"--version"}} {
		r = runCLI(t, nil, "", args...)
		wantOK(t, r)
		got := lines(r.stdout)
		if got[0] != "Consulate v"+Version || !strings.HasPrefix(got[1], "Revision ") ||
			got[len(got)-1] != "Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use protocol >2 when speaking to compatible agents)" {
			t.Fatalf("%v output %q", args, r.stdout)
		}
	}
}

func TestKeygen(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		r := runCLI(t, nil, "", "keygen")
		wantOK(t, r)
		key := strings.TrimSpace(r.stdout)
		raw, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(raw) != 32 {
			t.Fatalf("key %q: %d bytes, err %v", key, len(raw), err)
		}
		if seen[key] {
			t.Fatal("keygen repeated a key")
		}
		seen[key] = true
	}
}

func TestRunEntryPoint(t *testing.T) {
	// run is what main calls: it must write errors to the given stderr and
	// return them for exitCode.
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"consulate", "nosuch"}, &out, &errb)
	if exitCode(err) != 1 || !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("run: err %v stderr %q", err, errb.String())
	}
	if exitCode(run(context.Background(), []string{"consulate", "keygen"}, &out, &errb)) != 0 {
		t.Fatal("keygen via run failed")
	}
	if exitCode(nil) != 0 || exitCode(&exitError{code: 2}) != 2 {
		t.Fatal("exitCode mapping")
	}
}

func TestInterruptEndsRequest(t *testing.T) {
	f := newFakeAgent(t)
	arrived := make(chan struct{}, 1)
	f.handle("/v1/agent/members", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return map[string]string{"CONSULATE_HTTP_ADDR": f.addr()}[k] }}
	done := make(chan error, 1)
	go func() { done <- e.run(ctx, []string{"consulate", "members"}) }()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("request never arrived")
	}
	cancel()
	select {
	case err := <-done:
		if exitCode(err) != 1 || !strings.Contains(errb.String(), "context canceled") {
			t.Fatalf("err %v stderr %q", err, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("members did not return after the context was cancelled")
	}
}
