package rpcmux

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"consulate/internal/testutil"
)

func TestRaftLayerAcceptsRaftConnections(t *testing.T) {
	cfg := testConfig()
	adv := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 11), Port: 8300}
	cfg.AdvertiseAddr = adv
	srv := startServer(t, cfg, newTestHandler(), "")
	layer := srv.mux.RaftLayer()
	if layer.Addr().String() != adv.String() {
		t.Fatalf("Addr = %v, want advertise %v", layer.Addr(), adv)
	}

	out, err := layer.Dial(raft.ServerAddress(srv.addr), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := layer.Accept()
		if err != nil {
			t.Errorf("accept: %v", err)
		}
		accepted <- c
	}()
	var in net.Conn
	select {
	case in = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("raft connection never accepted")
	}
	if in == nil {
		t.FailNow()
	}
	defer in.Close()
	// The protocol byte is consumed by the mux; the payload is intact.
	_ = in.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := out.Write([]byte("raft!")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "raft!" {
		t.Fatalf("read %q, %v", buf, err)
	}

	if err := layer.Close(); err != nil {
		t.Fatal(err)
	}
	if err := layer.Close(); err != nil {
		t.Fatal("second Close failed")
	}
	if _, err := layer.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}

func TestRaftLayerAddrFallsBackToListener(t *testing.T) {
	srv := startServer(t, testConfig(), newTestHandler(), "")
	testutil.WaitFor(t, 5*time.Second, "listener registered", func() bool {
		return srv.mux.RaftLayer().Addr().String() == string(srv.addr)
	})
}

// Two NetworkTransports over two muxes exchange an AppendEntries.
func TestRaftNetworkTransportRoundTrip(t *testing.T) {
	srv1 := startServer(t, testConfig(), newTestHandler(), "")
	srv2 := startServer(t, testConfig(), newTestHandler(), "")
	testutil.WaitFor(t, 5*time.Second, "listeners registered", func() bool {
		return srv1.mux.RaftLayer().Addr().String() == string(srv1.addr) && srv2.mux.RaftLayer().Addr().String() == string(srv2.addr)
	})
	trans1 := raft.NewNetworkTransport(srv1.mux.RaftLayer(), 2, 2*time.Second, io.Discard)
	defer trans1.Close()
	trans2 := raft.NewNetworkTransport(srv2.mux.RaftLayer(), 2, 2*time.Second, io.Discard)
	defer trans2.Close()
	if string(trans2.LocalAddr()) != string(srv2.addr) {
		t.Fatalf("trans2 LocalAddr = %s", trans2.LocalAddr())
	}

	want := raft.AppendEntriesResponse{Term: 7, LastLog: 42, Success: true}
	served := make(chan *raft.AppendEntriesRequest, 1)
	go func() {
		select {
		case rpc := <-trans2.Consumer():
			req, _ := rpc.Command.(*raft.AppendEntriesRequest)
			served <- req
			resp := want
			rpc.Respond(&resp, nil)
		case <-time.After(5 * time.Second):
			served <- nil
		}
	}()

	req := raft.AppendEntriesRequest{
		RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, Addr: []byte(srv1.addr)},
		Term:              7,
		PrevLogEntry:      41,
		PrevLogTerm:       6,
		Entries:           []*raft.Log{{Index: 42, Term: 7, Type: raft.LogCommand, Data: []byte("hello")}},
		LeaderCommitIndex: 41,
	}
	var resp raft.AppendEntriesResponse
	if err := trans1.AppendEntries("srv2", raft.ServerAddress(srv2.addr), &req, &resp); err != nil {
		t.Fatalf("AppendEntries: %v", err)
	}
	got := <-served
	if got == nil || got.Term != 7 || len(got.Entries) != 1 || string(got.Entries[0].Data) != "hello" {
		t.Fatalf("server got %+v", got)
	}
	if resp.Term != want.Term || resp.LastLog != want.LastLog || !resp.Success {
		t.Fatalf("resp = %+v, want %+v", resp, want)
	}
}
