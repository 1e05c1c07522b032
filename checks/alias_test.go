package checks

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"consulate/internal/testutil"
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
		// alias_node naming the local node: the check itself is left out,
		// or it would mirror its own critical status forever.
		{"local node by name", "n1", "", structs.HealthChecks{node, self}, false, structs.HealthPassing, "All checks passing."},
		{"remote check with the same ID", "n2", "", structs.HealthChecks{node, self}, false, structs.HealthCritical, `Aliased check "me" failing: `},
	}
	for _, tc := range cases {
		st, out := aliasHealth("me", tc.node, "n1", tc.service, tc.chks, tc.found)
		if st != tc.status || out != tc.output {
			t.Errorf("%s: got %s %q, want %s %q", tc.name, st, out, tc.status, tc.output)
		}
	}
	if _, err := NewRunner("a", &structs.CheckType{AliasService: "db1"}, &recorder{}, nil, Options{}); err == nil {
		t.Fatal("alias check without a source accepted")
	}
}

// scriptedSource answers AliasChecks from errs in turn (nil: a passing
// answer), then blocks until the query ends.
type scriptedSource struct {
	mu    sync.Mutex
	errs  []error
	calls int
}

func (s *scriptedSource) AliasChecks(ctx context.Context, node, serviceID string, index uint64) (structs.HealthChecks, bool, uint64, error) {
	s.mu.Lock()
	i := s.calls
	s.calls++
	s.mu.Unlock()
	if i >= len(s.errs) {
		<-ctx.Done()
		return nil, false, 0, ctx.Err()
	}
	if s.errs[i] != nil {
		return nil, false, 0, s.errs[i]
	}
	return nil, true, uint64(i + 1), nil
}

func (s *scriptedSource) done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls > len(s.errs)
}

// TestAliasOneFailureNotCritical: as Consul's, one failed query leaves the
// status alone; the second in a row marks the check critical.
func TestAliasOneFailureNotCritical(t *testing.T) {
	boom := errors.New("no leader")
	for _, tc := range []struct {
		name     string
		errs     []error
		critical bool
	}{
		{"one failure", []error{boom, nil}, false},
		{"two failures", []error{boom, boom}, true},
		{"failures apart", []error{boom, nil, boom, nil}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &scriptedSource{errs: tc.errs}
			rec := &recorder{}
			r, err := NewRunner("a", &structs.CheckType{AliasNode: "n2"}, rec, nil, Options{Alias: src, NodeName: "n1"})
			if err != nil {
				t.Fatal(err)
			}
			r.Start()
			defer r.Stop()
			testutil.WaitFor(t, 10*time.Second, "all answers used", src.done)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			sawCritical := false
			for _, u := range rec.updates {
				if u.status == structs.HealthCritical {
					sawCritical = true
				}
			}
			if sawCritical != tc.critical {
				t.Fatalf("critical seen %v, want %v: %+v", sawCritical, tc.critical, rec.updates)
			}
		})
	}
}
