package httpapi

import (
	"net/http/httptest"
	"testing"

	"consulate/structs"
)

func TestResultsFilteredByACLsHeader(t *testing.T) {
	w := httptest.NewRecorder()
	setMeta(w, &structs.QueryOptions{}, &structs.QueryMeta{Index: 5, ResultsFilteredByACLs: true})
	if got := w.Header().Get("X-Consul-Results-Filtered-By-ACLs"); got != "true" {
		t.Fatalf("header %q", got)
	}
	w = httptest.NewRecorder()
	setMeta(w, &structs.QueryOptions{}, &structs.QueryMeta{Index: 5})
	if _, ok := w.Header()["X-Consul-Results-Filtered-By-Acls"]; ok {
		t.Fatal("header set without filtering")
	}
}
