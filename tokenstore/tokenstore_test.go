package tokenstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readFile(t *testing.T, dir string) map[string]string {
	t.Helper()
	buf, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(buf, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestConfiguredTokens(t *testing.T) {
	s := newStore(t, Config{Default: "d", Agent: "a", AgentRecovery: "r", Replication: "p", ConfigFileServiceRegistration: "c"})
	if err := s.Load(); err != nil {
		t.Fatal(err)
	}
	for what, got := range map[string][2]string{
		"user":        {s.UserToken(), "d"},
		"agent":       {s.AgentToken(), "a"},
		"recovery":    {s.AgentRecoveryToken(), "r"},
		"replication": {s.ReplicationToken(), "p"},
		"config file": {s.ConfigFileServiceRegistrationToken(), "c"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s token = %q, want %q", what, got[0], got[1])
		}
	}
}

// TestAgentTokenFallsBack: without an agent token the agent uses the user
// token, as Consul does.
func TestAgentTokenFallsBack(t *testing.T) {
	s := newStore(t, Config{Default: "d"})
	if got := s.AgentToken(); got != "d" {
		t.Errorf("agent token = %q, want the user token", got)
	}
	if err := s.Set("agent", "a"); err != nil {
		t.Fatal(err)
	}
	if got := s.AgentToken(); got != "a" {
		t.Errorf("agent token = %q", got)
	}
	if err := s.Set("agent", ""); err != nil {
		t.Fatal(err)
	}
	if got := s.AgentToken(); got != "d" {
		t.Errorf("cleared agent token = %q, want the user token", got)
	}
	if got := newStore(t, Config{}).AgentToken(); got != "" {
		t.Errorf("no tokens: agent token = %q", got)
	}
}

func TestSetKinds(t *testing.T) {
	cases := []struct {
		name string
		get  func(s *Store) string
	}{
		{"default", (*Store).UserToken},
		{"acl_token", (*Store).UserToken},
		{"agent", (*Store).AgentToken},
		{"acl_agent_token", (*Store).AgentToken},
		{"agent_recovery", (*Store).AgentRecoveryToken},
		{"agent_master", (*Store).AgentRecoveryToken},
		{"acl_agent_master_token", (*Store).AgentRecoveryToken},
		{"replication", (*Store).ReplicationToken},
		{"acl_replication_token", (*Store).ReplicationToken},
		{"config_file_service_registration", (*Store).ConfigFileServiceRegistrationToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, Config{})
			if err := s.Set(tc.name, "secret-"+tc.name); err != nil {
				t.Fatal(err)
			}
			if got := tc.get(s); got != "secret-"+tc.name {
				t.Errorf("got %q", got)
			}
		})
	}
}

func TestUnknownKind(t *testing.T) {
	s := newStore(t, Config{Default: "d"})
	err := s.Set("acl_master_token", "x")
	if !errors.Is(err, ErrUnknownKind) || err.Error() != `Token "acl_master_token" is unknown` {
		t.Fatalf("error = %v", err)
	}
	var uk *UnknownKindError
	if !errors.As(err, &uk) || uk.Name != "acl_master_token" {
		t.Errorf("error = %#v", err)
	}
	if _, err := ParseKind(""); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("empty kind: %v", err)
	}
}

func TestIsAgentRecoveryToken(t *testing.T) {
	s := newStore(t, Config{AgentRecovery: "recover-me"})
	for secret, want := range map[string]bool{"recover-me": true, "recover-m": false, "recover-me2": false, "": false, "other": false} {
		if got := s.IsAgentRecoveryToken(secret); got != want {
			t.Errorf("IsAgentRecoveryToken(%q) = %v", secret, got)
		}
	}
	// No recovery token: nothing is one, not even "".
	if newStore(t, Config{}).IsAgentRecoveryToken("") {
		t.Error(`"" is the recovery token of a store without one`)
	}
	if err := s.Set("agent_master", "new"); err != nil {
		t.Fatal(err)
	}
	if s.IsAgentRecoveryToken("recover-me") || !s.IsAgentRecoveryToken("new") {
		t.Error("recovery token not replaced")
	}
}

// TestPersistence: with persistence on, only tokens set through the API
// are written, under Consul's keys; a new store loads them and they win
// over the configured ones.
func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, EnablePersistence: true, Default: "conf-d", Agent: "conf-a", Replication: "conf-p"}
	s := newStore(t, cfg)
	if err := s.Load(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file written before any Set: %v", err)
	}
	for k, v := range map[string]string{"acl_token": "api-d", "agent_recovery": "api-r", "config_file_service_registration": "api-c"} {
		if err := s.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"default": "api-d", "agent_recovery": "api-r", "config_file_service_registration": "api-c"}
	if got := readFile(t, dir); !mapsEqual(got, want) {
		t.Errorf("file = %v, want %v", got, want)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, %v", fi.Mode(), err)
	}

	var logs bytes.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s2 := newStore(t, cfg)
	if s2.UserToken() != "conf-d" {
		t.Errorf("before Load: user token = %q", s2.UserToken())
	}
	if err := s2.Load(); err != nil {
		t.Fatal(err)
	}
	if s2.UserToken() != "api-d" || s2.AgentToken() != "conf-a" || s2.AgentRecoveryToken() != "api-r" ||
		s2.ReplicationToken() != "conf-p" || s2.ConfigFileServiceRegistrationToken() != "api-c" {
		t.Errorf("after Load: %q %q %q %q %q", s2.UserToken(), s2.AgentToken(), s2.AgentRecoveryToken(), s2.ReplicationToken(), s2.ConfigFileServiceRegistrationToken())
	}
	if !strings.Contains(logs.String(), `\"default\" token present in both the configuration and persisted token store, using the persisted token`) {
		t.Errorf("no warning for the overridden default token: %s", logs.String())
	}
	// Loaded tokens count as set through the API: a later Set keeps them.
	if err := s2.Set("replication", "api-p"); err != nil {
		t.Fatal(err)
	}
	want["replication"] = "api-p"
	if got := readFile(t, dir); !mapsEqual(got, want) {
		t.Errorf("file = %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestNoPersistence: with persistence off nothing is written or read.
func TestNoPersistence(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(`{"default": "old"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, Config{DataDir: dir, Default: "conf"})
	if err := s.Load(); err != nil {
		t.Fatal(err)
	}
	if s.UserToken() != "conf" {
		t.Errorf("user token = %q, want the configured one", s.UserToken())
	}
	if err := s.Set("agent", "a"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dir); !mapsEqual(got, map[string]string{"default": "old"}) {
		t.Errorf("file changed: %v", got)
	}
	// No data dir at all (dev mode) is fine without persistence.
	if _, err := New(Config{}); err != nil {
		t.Error(err)
	}
	if _, err := New(Config{EnablePersistence: true}); err == nil {
		t.Error("persistence without a data dir accepted")
	}
}

// TestLegacyFile: Consul before 1.11 persisted the recovery token as
// agent_master.
func TestLegacyFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(`{"agent_master": "old-r", "agent": "a"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, Config{DataDir: dir, EnablePersistence: true})
	if err := s.Load(); err != nil {
		t.Fatal(err)
	}
	if s.AgentRecoveryToken() != "old-r" || s.AgentToken() != "a" {
		t.Errorf("tokens = %q %q", s.AgentRecoveryToken(), s.AgentToken())
	}
	if err := s.Set("default", "d"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dir); !mapsEqual(got, map[string]string{"agent_recovery": "old-r", "agent": "a", "default": "d"}) {
		t.Errorf("file = %v", got)
	}
}

func TestDamagedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte(`{"default": "d"`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, Config{DataDir: dir, EnablePersistence: true, Default: "conf"})
	err := s.Load()
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error = %v", err)
	}
	if s.UserToken() != "conf" {
		t.Errorf("user token = %q after a failed Load", s.UserToken())
	}
	// A file of the wrong shape is damaged too.
	if err := os.WriteFile(path, []byte(`{"default": 5}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Load(); !errors.Is(err, ErrDamaged) {
		t.Errorf("wrong shape: %v", err)
	}
}

// TestPersistFailureChangesNothing: when the file cannot be written, Set
// fails and the token stays as it was.
func TestPersistFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be makes the rename fail.
	if err := os.Mkdir(filepath.Join(dir, FileName), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, Config{DataDir: dir, EnablePersistence: true, Default: "conf"})
	if err := s.Set("default", "new"); err == nil {
		t.Fatal("Set succeeded")
	}
	if s.UserToken() != "conf" {
		t.Errorf("user token = %q after a failed Set", s.UserToken())
	}
}

func TestConcurrent(t *testing.T) {
	s := newStore(t, Config{DataDir: t.TempDir(), EnablePersistence: true})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				_ = s.Set("agent", "a")
				_ = s.AgentToken()
				_ = s.IsAgentRecoveryToken("x")
			}
		}()
	}
	wg.Wait()
	if s.AgentToken() != "a" {
		t.Errorf("agent token = %q", s.AgentToken())
	}
}
