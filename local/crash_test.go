package local

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"consulate/internal/atomicfile"
	"consulate/structs"
)

// logBuffer collects a State's logs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// persistSample writes, through a State, two services with checks and a
// standalone TTL check with a saved status, and returns the config.
func persistSample(t *testing.T) Config {
	t.Helper()
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	now := time.Unix(1_000_000, 0)
	cfg.Now = func() time.Time { return now }
	s, err := New(cfg, newFakeCatalog().RPC)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddService(web(), []*structs.CheckType{{CheckID: "web-ttl", TTL: time.Hour}}, true, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AddService(&structs.NodeService{ID: "db1", Service: "db", Port: 5432},
		[]*structs.CheckType{{CheckID: "db-ttl", TTL: time.Hour}}, true, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheck(&structs.HealthCheck{Name: "app"}, &structs.CheckType{TTL: time.Hour}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTTLCheck("app", structs.HealthPassing, "fine"); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func persistedPath(cfg Config, dir, id string) string {
	return filepath.Join(cfg.DataDir, dir, fileName(id))
}

// Empty, truncated or garbage files (what a crash or a full disk leaves)
// are logged by name and skipped; everything else loads and the agent
// starts.
func TestDamagedPersistedFilesAreSkipped(t *testing.T) {
	cfg := persistSample(t)
	damaged := map[string]string{
		persistedPath(cfg, servicesDir, "web"):   "",                 // empty
		persistedPath(cfg, checksDir, "db-ttl"):  `{"Check":{"Check`, // truncated
		persistedPath(cfg, checkStateDir, "app"): "\x00\x00\x00",     // garbage
	}
	for p, content := range damaged {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A decodable file that holds nothing, and a crash's temporary file.
	noService := filepath.Join(cfg.DataDir, servicesDir, strings.Repeat("0", 64))
	os.WriteFile(noService, []byte(`{"Source":"api"}`), 0o600)
	stray := filepath.Join(cfg.DataDir, checksDir, atomicfile.TempPrefix+"x-1")
	os.WriteFile(stray, []byte(`{"Check":`), 0o600)

	var logs logBuffer
	cfg.Logger = logs.logger()
	s, err := New(cfg, newFakeCatalog().RPC)
	if err != nil {
		t.Fatalf("damaged files stopped the start: %v", err)
	}
	defer s.Shutdown(bg)

	if s.Service("web") != nil {
		t.Error("service from an empty file loaded")
	}
	if s.Service("db1") == nil {
		t.Error("intact service db1 not loaded")
	}
	if s.Check("db-ttl") != nil {
		t.Error("check from a truncated file loaded")
	}
	if c := s.Check("app"); c == nil || c.Status != structs.HealthCritical {
		t.Errorf("standalone check with a garbage TTL state: %+v, want it loaded with its initial status", c)
	}
	out := logs.String()
	for p := range damaged {
		if !strings.Contains(out, p) {
			t.Errorf("log does not name damaged file %s:\n%s", p, out)
		}
	}
	if !strings.Contains(out, noService) {
		t.Errorf("log does not name %s, which holds no service", noService)
	}
	if strings.Contains(out, stray) {
		t.Errorf("a crash's temporary file was read: %s", out)
	}
}

// A crash can cut a file at any byte (on file systems, or with writers,
// that do not rename atomically). Whatever prefix of each file is left,
// the State starts and loads the intact files.
func TestStartSurvivesTruncatedFiles(t *testing.T) {
	for _, f := range []struct{ dir, id string }{
		{servicesDir, "web"}, {checksDir, "web-ttl"}, {checksDir, "app"}, {checkStateDir, "app"},
	} {
		t.Run(f.dir+"/"+f.id, func(t *testing.T) {
			// A fresh data dir each time: a start with a damaged service file
			// purges that service's checks.
			cfg := persistSample(t)
			p := persistedPath(cfg, f.dir, f.id)
			orig, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			// Every cut in the first bytes, then about 50 spread over the
			// rest, and the last byte: each start fsyncs a restored TTL state,
			// so every byte of every file would be slow on a busy disk.
			step := max(1, len(orig)/50)
			for cut := 0; cut < len(orig); cut = nextCut(cut, step, len(orig)) {
				if err := os.WriteFile(p, orig[:cut], 0o600); err != nil {
					t.Fatal(err)
				}
				s, err := New(cfg, newFakeCatalog().RPC)
				if err != nil {
					t.Fatalf("%s cut at %d of %d bytes: %v", p, cut, len(orig), err)
				}
				if s.Service("db1") == nil {
					t.Fatalf("%s cut at %d: the intact service db1 was not loaded", p, cut)
				}
				s.Shutdown(bg)
			}
		})
	}
}

func nextCut(cut, step, n int) int {
	switch {
	case cut < 16:
		return cut + 1
	case cut+step >= n-1 && cut < n-1:
		return n - 1
	}
	return cut + step
}

// Persisted files are written through atomicfile: mode 0600 and no
// temporary file left behind.
func TestPersistedFilesAreWrittenCleanly(t *testing.T) {
	cfg := persistSample(t)
	for _, dir := range []string{servicesDir, checksDir, checkStateDir} {
		es, err := os.ReadDir(filepath.Join(cfg.DataDir, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if atomicfile.IsTemp(e.Name()) {
				t.Errorf("temporary file %s/%s left behind", dir, e.Name())
			}
			fi, err := e.Info()
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s/%s: %v %v", dir, e.Name(), fi.Mode(), err)
			}
		}
	}
}
