package rpcmux

import (
	"context"
	"testing"
	"time"
)

func benchSetup(b *testing.B) (*testServer, *Pool) {
	srv := startServer(b, testConfig(), newTestHandler(), "")
	p := newTestPool(b, testPoolConfig())
	if err := p.Call(context.Background(), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		b.Fatal(err)
	}
	return srv, p
}

// BenchmarkCallParallel runs small calls from GOMAXPROCS*8 goroutines over
// one loopback session.
func BenchmarkCallParallel(b *testing.B) {
	srv, p := benchSetup(b)
	parallelCalls(b, srv, p)
}

// BenchmarkCallSerial is one caller at a time: the round-trip latency.
func BenchmarkCallSerial(b *testing.B) {
	srv, p := benchSetup(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := echoArgs{S: "service-web"}
	var out echoArgs
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &in, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallSerialTLS is BenchmarkCallSerial over a TLS session
// (RequireTLS on, client certificates verified): the cost TLS adds to a
// pooled call once the handshake is paid.
func BenchmarkCallSerialTLS(b *testing.B) {
	tp := newTLSPair(b)
	srv := startServer(b, tlsServerConfig(tp, true), newTestHandler(), "")
	p := newTestPool(b, tlsPoolConfig(tp.client))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := echoArgs{S: "service-web"}
	var out echoArgs
	if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &in, &out); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &in, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallParallelTLS is BenchmarkCallParallel over a TLS session.
func BenchmarkCallParallelTLS(b *testing.B) {
	tp := newTLSPair(b)
	srv := startServer(b, tlsServerConfig(tp, true), newTestHandler(), "")
	p := newTestPool(b, tlsPoolConfig(tp.client))
	if err := p.Call(context.Background(), "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
		b.Fatal(err)
	}
	parallelCalls(b, srv, p)
}

// BenchmarkTLSHandshake is a new TLS session per iteration (dial, TLS
// handshake with client certificates, one call): handshakes per second
// one server port sustains from one client.
func BenchmarkTLSHandshake(b *testing.B) {
	tp := newTLSPair(b)
	cfg := tlsServerConfig(tp, true)
	cfg.MaxConnsPerClient = 0
	srv := startServer(b, cfg, newTestHandler(), "")
	pcfg := tlsPoolConfig(tp.client)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := newTestPool(b, pcfg)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &echoArgs{}, nil); err != nil {
			b.Fatal(err)
		}
		p.CloseSession(srv.addr)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
}

// parallelCalls runs b.N calls from 8×GOMAXPROCS goroutines over p's one
// pooled session to srv and reports calls per second.
func parallelCalls(b *testing.B, srv *testServer, p *Pool) {
	b.Helper()
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		in := echoArgs{S: "service-web", D: time.Second, M: map[string]string{"env": "prod"}}
		var out echoArgs
		for pb.Next() {
			if err := p.Call(ctx, "dc1", srv.addr, "Test.Echo", &in, &out); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	b.StopTimer()
	if got := srv.ln.accepted.Load(); got != 1 {
		b.Fatalf("accepted %d connections, want 1", got)
	}
}
