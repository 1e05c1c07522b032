package httpapi

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"consulate/structs"
)

func TestTranslateWANAddrs(t *testing.T) {
	f := newFakeAgent()
	f.nodes = structs.CheckServiceNodes{{
		Node:    &structs.Node{Node: "n1", Address: "10.0.0.1", TaggedAddresses: map[string]string{"lan": "10.0.0.1", "wan": "198.51.100.1"}},
		Service: &structs.NodeService{ID: "web", Service: "web", Port: 80},
	}}
	cfg := DefaultConfig()
	cfg.Datacenter, cfg.TranslateWANAddrs = "dc1", true
	ts := httptest.NewServer(mustNew(t, cfg, f).Handler())
	defer ts.Close()

	code, body, hdr := do(t, ts, "GET", "/v1/health/service/web?dc=dc3", "")
	var remote structs.CheckServiceNodes
	if err := json.Unmarshal([]byte(body), &remote); err != nil || code != 200 {
		t.Fatalf("%d %s %v", code, body, err)
	}
	if remote[0].Node.Address != "198.51.100.1" || hdr.Get("X-Consul-Translate-Addresses") != "true" {
		t.Fatalf("remote answer not translated: %+v %v", remote[0].Node, hdr)
	}
	if f.nodes[0].Node.Address != "10.0.0.1" {
		t.Fatal("translation changed the backend's data")
	}
	_, body, hdr = do(t, ts, "GET", "/v1/catalog/service/web", "")
	var local structs.ServiceNodes
	json.Unmarshal([]byte(body), &local)
	if local[0].Address != "10.0.0.1" || hdr.Get("X-Consul-Translate-Addresses") != "" {
		t.Fatalf("local answer translated: %+v", local[0])
	}
	_, body, _ = do(t, ts, "GET", "/v1/catalog/service/web?dc=dc3", "")
	json.Unmarshal([]byte(body), &local)
	if local[0].Address != "198.51.100.1" {
		t.Fatalf("catalog remote answer not translated: %+v", local[0])
	}
}
