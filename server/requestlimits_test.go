package server

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"consulate/structs"
)

func TestRequestLimitsValidate(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		mode        string
		read, write float64
		ok          bool
	}{
		{"", 0, 0, true},
		{RequestLimitsDisabled, 0, 0, true},
		{RequestLimitsPermissive, 10, inf, true},
		{RequestLimitsEnforcing, inf, inf, true},
		{RequestLimitsEnforcing, 0, 10, false},
		{RequestLimitsEnforcing, 10, -1, false},
		{RequestLimitsEnforcing, math.NaN(), 10, false},
		{"strict", 10, 10, false},
	} {
		cfg := testConfig("v1")
		cfg.RequestLimitsMode, cfg.RequestLimitsReadRate, cfg.RequestLimitsWriteRate = tc.mode, tc.read, tc.write
		err := cfg.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
			t.Errorf("%+v: Validate = %v", tc, err)
		}
	}
}

// limitedServer is a dev server with the given request limits.
func limitedServer(t *testing.T, mode string, read, write float64) *Server {
	t.Helper()
	cfg := testConfig("lim1")
	cfg.Bootstrap = true
	cfg.RequestLimitsMode, cfg.RequestLimitsReadRate, cfg.RequestLimitsWriteRate = mode, read, write
	s := startServer(t, cfg, Deps{})
	waitLeader(t, s)
	return s
}

// countAllowed sends requests built by call for d and counts those served
// and those refused with ErrRateLimited (any other error fails the test).
func countAllowed(t *testing.T, d time.Duration, call func() error) (ok, limited int, elapsed time.Duration) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		err := call()
		switch {
		case err == nil:
			ok++
		case errors.Is(err, structs.ErrRateLimited):
			limited++
			time.Sleep(time.Millisecond)
		default:
			t.Fatal(err)
		}
	}
	return ok, limited, time.Since(start)
}

func readCall(s *Server) func() error {
	return func() error {
		var nodes structs.IndexedNodes
		return s.RPC(context.Background(), structs.MethodCatalogListNodes, &structs.DCSpecificRequest{}, &nodes)
	}
}

func writeCall(s *Server) func() error {
	return func() error {
		var ok bool
		return s.RPC(context.Background(), structs.MethodKVSApply,
			&structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "k", Value: []byte("v")}}, &ok)
	}
}

// within10 checks that got requests were allowed in elapsed: a burst of
// one second's worth plus rate per second, within 10 %.
func within10(t *testing.T, kind string, got int, rate float64, elapsed time.Duration) {
	t.Helper()
	want := rate + rate*elapsed.Seconds()
	if math.Abs(float64(got)-want) > 0.1*want {
		t.Errorf("%s: %d allowed in %v, want %.0f ± 10%%", kind, got, elapsed, want)
	}
}

func TestRequestLimitsEnforcing(t *testing.T) {
	const readRate, writeRate = 100, 20
	s := limitedServer(t, RequestLimitsEnforcing, readRate, writeRate)

	ok, limited, elapsed := countAllowed(t, 1500*time.Millisecond, readCall(s))
	if limited == 0 {
		t.Fatal("no read was refused")
	}
	within10(t, "reads", ok, readRate, elapsed)

	// Writes have their own bucket, still full after the reads.
	ok, limited, elapsed = countAllowed(t, 1500*time.Millisecond, writeCall(s))
	if limited == 0 {
		t.Fatal("no write was refused")
	}
	within10(t, "writes", ok, writeRate, elapsed)

	// Status.* is exempt.
	var leader string
	for range 3 * readRate {
		if err := s.RPC(context.Background(), structs.MethodStatusLeader, &structs.EmptyRequest{}, &leader); err != nil {
			t.Fatalf("Status.Leader under the limit: %v", err)
		}
	}

	// The refusal crosses the wire as a code and is rebuilt.
	err := readCall(s)()
	for range 2 * readRate {
		if err != nil {
			break
		}
		err = readCall(s)()
	}
	if re := structs.ToRemoteError(err); re.Code != structs.CodeRateLimited || !errors.Is(re, structs.ErrRateLimited) {
		t.Fatalf("remote form of %v: %+v", err, re)
	}
}

func TestRequestLimitsPermissiveAndDisabled(t *testing.T) {
	for _, mode := range []string{RequestLimitsPermissive, RequestLimitsDisabled} {
		t.Run(mode, func(t *testing.T) {
			s := limitedServer(t, mode, 5, 5)
			if mode == RequestLimitsDisabled && s.limiter != nil {
				t.Fatal("disabled mode built a limiter")
			}
			for i := range 50 {
				if err := readCall(s)(); err != nil {
					t.Fatalf("read %d: %v", i, err)
				}
			}
			for i := range 20 {
				if err := writeCall(s)(); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
			}
			if mode == RequestLimitsPermissive && s.limiter.readOver.Load()+s.limiter.writeOver.Load() == 0 && s.limiter.readLogAt.Load() == 0 {
				t.Fatal("permissive mode did not count the requests over the limit")
			}
		})
	}
}
