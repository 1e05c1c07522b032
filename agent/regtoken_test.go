package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/config"
	"consulate/internal/testutil"
	"consulate/structs"
)

// TestServicesSyncWithTheirRegistrationToken: with ACLs on (default
// deny) and an agent token that may only write the node, a service
// registered over HTTP with a token holding service:write reaches the
// catalog (anti-entropy syncs it with that token, not the agent's), and a
// config-file service without a token, with no
// config_file_service_registration nor default token, does not: the log
// says why, naming where the token came from. No secret shows in the
// listings or the log.
func TestServicesSyncWithTheirRegistrationToken(t *testing.T) {
	const ip = "127.0.51.1"
	opts := testOpts(t, ip, "")
	rt, err := config.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	rt.HTTPPort = testHTTPPort13
	rt.ACLsEnabled, rt.ACLDefaultPolicy = true, "deny"
	rt.ACLTokens.InitialManagement = "root-secret-51"
	rt.Services = append(rt.Services, &structs.ServiceDefinition{Name: "cfgsvc", Port: 81})
	logs := &testutil.Buffer{}
	a := runAgent(t, rt, Options{LoadOpts: opts, Logger: slog.New(slog.NewTextHandler(logs, nil)), Version: "1.2.3-test"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.server.WaitForLeader(ctx); err != nil {
		t.Fatalf("no leader: %v", err)
	}
	addr := fmt.Sprintf("%s:%d", ip, testHTTPPort13)
	client := func(tok string) *api.Client {
		c, err := api.NewClient(&api.Config{Address: addr, Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	root := client("root-secret-51")
	mkToken := func(name, rules string) string {
		var secret string
		testutil.WaitForErr(t, 10*time.Second, "token "+name+" created", func() error {
			p, _, err := root.ACL().PolicyCreate(&api.ACLPolicy{Name: name, Rules: rules}, nil)
			if err != nil && !strings.Contains(err.Error(), "already exists") {
				return err
			}
			if p == nil {
				p, _, err = root.ACL().PolicyReadByName(name, nil)
				if err != nil {
					return err
				}
			}
			tok, _, err := root.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: p.ID}}}, nil)
			if err != nil {
				return err
			}
			secret = tok.SecretID
			return nil
		})
		return secret
	}
	agentTok := mkToken("node-only", fmt.Sprintf(`node %q { policy = "write" }`, rt.NodeName))
	webTok := mkToken("web-write", `service "web" { policy = "write" }`)
	if err := a.SetAgentToken("agent", agentTok); err != nil {
		t.Fatal(err)
	}

	if err := client(webTok).Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "web1", Name: "web", Port: 80}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 10*time.Second, "web in the catalog", func() error {
		svcs, _, err := root.Catalog().Service("web", "", nil)
		if err != nil {
			return err
		}
		if len(svcs) != 1 || svcs[0].ServiceID != "web1" || svcs[0].Node != rt.NodeName {
			return fmt.Errorf("catalog web: %+v", svcs)
		}
		return nil
	})
	// The config-file service went with no token at all and was refused.
	testutil.WaitFor(t, 10*time.Second, "the refusal logged", func() bool {
		return strings.Contains(logs.String(), "Service registration blocked by ACLs")
	})
	out := logs.String()
	if !strings.Contains(out, "service=cfgsvc") || !strings.Contains(out, `token="no token (anonymous)"`) {
		t.Fatalf("the warning does not name the service and its token:\n%s", out)
	}
	if svcs, _, err := root.Catalog().Service("cfgsvc", "", nil); err != nil || len(svcs) != 0 {
		t.Fatalf("cfgsvc reached the catalog without a token: %+v %v", svcs, err)
	}

	// No secret in the listings or the log.
	for _, path := range []string{"/v1/agent/services", "/v1/agent/checks", "/v1/catalog/service/web", "/v1/catalog/node/" + rt.NodeName} {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Consul-Token", "root-secret-51")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		if bytes.Contains(body, []byte(webTok)) || bytes.Contains(body, []byte(agentTok)) {
			t.Fatalf("%s shows a token: %s", path, body)
		}
	}

	// Deregistration goes with web's token too.
	if err := client(webTok).Agent().ServiceDeregister("web1"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 10*time.Second, "web gone from the catalog", func() error {
		svcs, _, err := root.Catalog().Service("web", "", nil)
		if err != nil || len(svcs) != 0 {
			return fmt.Errorf("catalog web: %+v %v", svcs, err)
		}
		return nil
	})
	if out := logs.String(); strings.Contains(out, webTok) || strings.Contains(out, agentTok) {
		t.Fatalf("a token secret reached the log:\n%s", out)
	}
}
