package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// TestUnixSocketAgentAndCLI: an agent with addresses.http on a Unix
// socket (and TCP) serves the API there; the CLI reaches it through
// -http-addr unix://… and CONSUL_HTTP_ADDR=unix://….
func TestUnixSocketAgentAndCLI(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "consul.sock")
	cfg := filepath.Join(dir, "http.hcl")
	body := fmt.Sprintf(`addresses { http = "127.0.18.30 unix://%s" }
unix_sockets { mode = "0700" }
http_config { response_headers { "X-Frame-Options" = "DENY" } }
`, sock)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, "unix1", "127.0.18.30", "-dev", "-config-file", cfg)
	a.waitHTTP(15 * time.Second)
	a.waitLeader(10 * time.Second)

	uc, err := api.NewClient(&api.Config{Address: "unix://" + sock})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 10*time.Second, "API over the socket", func() error {
		_, err := uc.KV().Put(&api.KVPair{Key: "sock/k", Value: []byte("v")}, nil)
		return err
	})
	if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("socket: %v %v", st, err)
	}

	out, err := cli(t, "kv", "get", "-http-addr", "unix://"+sock, "sock/k")
	if err != nil || strings.TrimSpace(out) != "v" {
		t.Fatalf("-http-addr unix://: %q %v", out, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "members")
	cmd.Env = append(os.Environ(), "CONSULATE_HTTP_ADDR=", "CONSUL_HTTP_ADDR=unix://"+sock)
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "unix1") {
		t.Fatalf("CONSUL_HTTP_ADDR=unix://: %q %v", b, err)
	}
}
