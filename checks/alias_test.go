package checks

import (
	"testing"

	"consulate/structs"
)

func TestAliasHealth(t *testing.T) {
	node := &structs.HealthCheck{CheckID: "serfHealth", Name: "Serf", Status: structs.HealthPassing}
	db := &structs.HealthCheck{CheckID: "db", Name: "db", ServiceID: "db1", Status: structs.HealthPassing}
	other := &structs.HealthCheck{CheckID: "web", Name: "web", ServiceID: "web1", Status: structs.HealthCritical}
	self := &structs.HealthCheck{CheckID: "me", Name: "me", Status: structs.HealthCritical}
	crit := func(hc *structs.HealthCheck, st string) *structs.HealthCheck {
		c := *hc
		c.Status, c.Output = st, "out"
		return &c
	}
	cases := []struct {
		name, node, service string
		chks                structs.HealthChecks
		found               bool
		status, output      string
	}{
		{"passing", "", "db1", structs.HealthChecks{node, db, other, self}, true, structs.HealthPassing, "All checks passing."},
		{"no checks", "", "db1", nil, true, structs.HealthPassing, "No checks found."},
		{"missing service", "", "db1", nil, false, structs.HealthCritical, "Service db1 could not be found on the local node"},
		{"missing remote", "n2", "db1", nil, false, structs.HealthCritical, "Service db1 could not be found on n2"},
		{"service critical", "", "db1", structs.HealthChecks{node, crit(db, structs.HealthCritical)}, true, structs.HealthCritical, `Aliased check "db" failing: out`},
		{"maintenance", "", "db1", structs.HealthChecks{crit(db, structs.HealthMaint)}, true, structs.HealthCritical, `Aliased check "db" failing: out`},
		{"node warning", "", "db1", structs.HealthChecks{crit(node, structs.HealthWarning), db}, true, structs.HealthWarning, `Aliased check "Serf" warning: out`},
		{"node alias ignores services", "", "", structs.HealthChecks{node, other}, false, structs.HealthPassing, "All checks passing."},
	}
	for _, tc := range cases {
		st, out := aliasHealth("me", tc.node, tc.service, tc.chks, tc.found)
		if st != tc.status || out != tc.output {
			t.Errorf("%s: got %s %q, want %s %q", tc.name, st, out, tc.status, tc.output)
		}
	}
	if _, err := NewRunner("a", &structs.CheckType{AliasService: "db1"}, &recorder{}, nil, Options{}); err == nil {
		t.Fatal("alias check without a source accepted")
	}
}
