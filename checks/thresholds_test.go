package checks

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"consulate/structs"
)

// TestThresholdsSequence feeds results straight to the wrapper and checks
// what reaches the notifier, as Consul's status handler counts them.
func TestThresholdsSequence(t *testing.T) {
	const P, W, C = structs.HealthPassing, structs.HealthWarning, structs.HealthCritical
	cases := []struct {
		name       string
		ct         structs.CheckType
		in, wantOK []string
	}{
		{"none", structs.CheckType{}, []string{P, C, P}, []string{P, C, P}},
		// The first result after start is reported at once (Consul starts
		// its counters at the thresholds); later flips wait for them.
		{"success 3", structs.CheckType{SuccessBeforePassing: 3},
			[]string{P, P, C, P, P, P, P}, []string{P, P, C, P, P}},
		{"success 3 first failing", structs.CheckType{SuccessBeforePassing: 3},
			[]string{C, P, P, P}, []string{C, P}},
		{"critical 2", structs.CheckType{FailuresBeforeCritical: 2},
			[]string{C, P, C, C, C}, []string{C, P, C, C}},
		{"critical 3 first passing", structs.CheckType{FailuresBeforeCritical: 3},
			[]string{P, C, C, C}, []string{P, C}},
		{"warning 1 critical 3", structs.CheckType{FailuresBeforeWarning: 1, FailuresBeforeCritical: 3},
			[]string{P, C, C, C, P}, []string{P, W, W, C, P}},
		{"warning result counts as success", structs.CheckType{SuccessBeforePassing: 2},
			[]string{W, W, C, W, W}, []string{W, W, C, W}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			n := newThresholds(r, &tc.ct)
			for _, s := range tc.in {
				n.UpdateCheck("c", s, "out")
			}
			var got []string
			for _, u := range r.updates {
				got = append(got, u.status)
			}
			if len(got) != len(tc.wantOK) {
				t.Fatalf("reported %v, want %v", got, tc.wantOK)
			}
			for i := range got {
				if got[i] != tc.wantOK[i] {
					t.Fatalf("reported %v, want %v", got, tc.wantOK)
				}
			}
		})
	}
}

// TestHTTPCheckFailuresBeforeCritical runs a real HTTP check against a
// server that passes once then fails: the check reports critical only
// after the third consecutive failure.
func TestHTTPCheckFailuresBeforeCritical(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) > 1 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	r := &recorder{}
	ct := &structs.CheckType{HTTP: srv.URL, Interval: 50 * time.Millisecond, FailuresBeforeCritical: 3}
	run, err := NewRunner("web", ct, r, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	run.Start()
	defer run.Stop()
	r.waitStatus(t, structs.HealthCritical)
	if h := hits.Load(); h < 4 {
		t.Fatalf("critical after %d probes, want at least 1 passing and 3 failing", h)
	}
}

// TestHTTPCheckDisableRedirects reports the redirect itself (critical)
// instead of following it to a page that passes.
func TestHTTPCheckDisableRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) { http.Redirect(w, req, "/ok", http.StatusFound) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, disable := range []bool{false, true} {
		r := &recorder{}
		ct := &structs.CheckType{HTTP: srv.URL + "/", Interval: 50 * time.Millisecond, DisableRedirects: disable}
		run, err := NewRunner("web", ct, r, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		run.Start()
		want := structs.HealthPassing
		if disable {
			want = structs.HealthCritical
		}
		res := r.waitStatus(t, want)
		run.Stop()
		if disable && !strings.Contains(res.output, "302") {
			t.Fatalf("output %q does not show the redirect", res.output)
		}
	}
}

// TestCheckOutputMaxSize: the check's own bound applies when smaller.
func TestCheckOutputMaxSize(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(make([]byte, 1000))
	}))
	defer srv.Close()
	r := &recorder{}
	ct := &structs.CheckType{HTTP: srv.URL, Interval: 50 * time.Millisecond, OutputMaxSize: 10}
	run, err := NewRunner("web", ct, r, nil, Options{OutputMaxSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	run.Start()
	defer run.Stop()
	res := r.waitStatus(t, structs.HealthPassing)
	if len(res.output) > 200 {
		t.Fatalf("output is %d bytes, want the body cut to 10", len(res.output))
	}
}
