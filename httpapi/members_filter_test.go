package httpapi

import (
	"testing"

	"github.com/hashicorp/consul/api"
)

func TestAgentMembersFilter(t *testing.T) {
	c, _ := newTestServer(t, newFakeAgent())
	m, err := c.Agent().MembersOpts(api.MembersOpts{Filter: `Tags.role == "consul" and Status == 1`})
	if err != nil || len(m) != 1 || m[0].Name != "node1" {
		t.Fatalf("matching filter: %+v %v", m, err)
	}
	m, err = c.Agent().MembersOpts(api.MembersOpts{Filter: `Name == "other"`})
	if err != nil || len(m) != 0 {
		t.Fatalf("filter matching nothing: %+v %v", m, err)
	}
	if _, err := c.Agent().MembersOpts(api.MembersOpts{Filter: `Nope == "x"`}); err == nil {
		t.Fatal("a filter on an unknown field was accepted")
	}
}
