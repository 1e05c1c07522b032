package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
	"consulate/rpcmux"
	"consulate/structs"
	"consulate/tlsutil"
)

// writeJSONConfig writes cfg as a config file and returns its path.
func writeJSONConfig(t *testing.T, cfg map[string]any) string {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAutoEncrypt runs a server with auto_encrypt.allow_tls and every
// verification on, a client with auto_encrypt.tls and only the CA file,
// and a client with neither a certificate nor auto_encrypt: the first
// client gets a certificate from the server, joins and writes through
// itself over TLS; the second cannot make RPC calls. Over the port's
// no-client-certificate byte only AutoEncrypt.Sign is served.
func TestAutoEncrypt(t *testing.T) {
	certs := t.TempDir()
	cliIn(t, certs, "tls", "ca", "create")
	cliIn(t, certs, "tls", "cert", "create", "-server", "-dc", "dc1", "-additional-ipaddress", "127.0.0.151")
	ca := filepath.Join(certs, "consul-agent-ca.pem")

	srv := startAgent(t, "ae-s1", "127.0.0.151", "-server", "-datacenter", "dc1", "-bootstrap-expect", "1",
		"-config-file", tlsAgentConfig(t, certs, "dc1-server-consul-0"),
		"-config-file", writeJSONConfig(t, map[string]any{"auto_encrypt": map[string]any{"allow_tls": true}}))
	srv.waitHTTP(15 * time.Second)
	srv.waitLeader(20 * time.Second)

	clientCfg := func(auto bool) string {
		cfg := map[string]any{
			"tls": map[string]any{
				"defaults":     map[string]any{"ca_file": ca, "verify_outgoing": true},
				"internal_rpc": map[string]any{"verify_server_hostname": true},
			},
		}
		if auto {
			cfg["auto_encrypt"] = map[string]any{"tls": true, "dns_san": []string{"ae-c1.example"}, "ip_san": []string{"127.0.0.152"}}
		}
		return writeJSONConfig(t, cfg)
	}
	client := startAgent(t, "ae-c1", "127.0.0.152", "-datacenter", "dc1", "-join", "127.0.0.151",
		"-config-file", clientCfg(true))
	client.waitHTTP(20 * time.Second)
	waitLog(t, client, "certificate obtained", "obtained an auto-encrypt certificate")

	client.waitAliveMembers(15*time.Second, 2)
	// A write through the client travels to the server over TLS with the
	// auto-encrypt certificate (the server verifies incoming).
	testutil.WaitForErr(t, 10*time.Second, "write through the auto-encrypt client", func() error {
		_, err := client.client().KV().Put(&api.KVPair{Key: "ae/k", Value: []byte("v")}, nil)
		return err
	})
	if kv, _, err := srv.client().KV().Get("ae/k", nil); err != nil || kv == nil || string(kv.Value) != "v" {
		t.Fatalf("read back on the server: %v %v", kv, err)
	}
	// The client's own node is in the catalog (anti-entropy over TLS).
	testutil.WaitForErr(t, 15*time.Second, "client node in the catalog", func() error {
		n, _, err := srv.client().Catalog().Node("ae-c1", nil)
		if err != nil {
			return err
		}
		if n == nil {
			return errors.New("not yet")
		}
		return nil
	})

	// A client without a certificate and without auto_encrypt joins the
	// LAN (gossip is not TLS) but its RPC calls are refused.
	bare := startAgent(t, "ae-c2", "127.0.0.153", "-datacenter", "dc1", "-join", "127.0.0.151",
		"-config-file", clientCfg(false))
	bare.waitHTTP(15 * time.Second)
	for range 3 {
		if _, err := bare.client().KV().Put(&api.KVPair{Key: "ae/bare", Value: []byte("v")}, nil); err == nil {
			t.Fatal("a client without a certificate wrote through the server")
		}
	}
	if kv, _, err := srv.client().KV().Get("ae/bare", nil); err != nil || kv != nil {
		t.Fatalf("the bare client's write landed: %v %v", kv, err)
	}

	// Over the no-client-certificate byte, only AutoEncrypt.Sign is
	// served, and a request for a server's name is refused.
	conf, err := tlsutil.NewConfigurator(tlsutil.Config{
		InternalRPC: tlsutil.ProtocolConfig{CAFile: ca, VerifyOutgoing: true, VerifyServerHostname: true},
		Datacenter:  "dc1",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dial, err := conf.AutoEncryptDialConfig()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ok bool
	err = rpcmux.CallInsecure(ctx, "127.0.0.151:8300", dial, nil, structs.MethodKVSApply,
		&structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "ae/insecure", Value: []byte("x")}}, &ok)
	if !errors.Is(err, structs.ErrPermissionDenied) {
		t.Fatalf("KVS.Apply without a client certificate: %v, want permission denied", err)
	}
	csr, _, err := tlsutil.GenerateCSR("server.dc1.consul", []string{"server.dc1.consul"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var reply structs.AutoEncryptSignResponse
	err = rpcmux.CallInsecure(ctx, "127.0.0.151:8300", dial, nil, structs.MethodAutoEncryptSign,
		&structs.AutoEncryptSignRequest{Datacenter: "dc1", NodeName: "evil", CSR: csr}, &reply)
	var bad *structs.BadRequestError
	if !errors.As(err, &bad) || !strings.Contains(err.Error(), "server") {
		t.Fatalf("signing a server name: %v, want a bad request", err)
	}
}
