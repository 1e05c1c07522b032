// Command baredns is the baseline for DNS benchmarks: a bare miekg/dns
// server on UDP that answers every question with one fixed A record. It
// stops on SIGINT or after -max (30 minutes by default).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/miekg/dns"
)

func main() {
	addr := flag.String("listen", "127.0.0.63:8600", "UDP address to answer on")
	max := flag.Duration("max", 30*time.Minute, "stop after this long")
	flag.Parse()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		if len(r.Question) == 1 {
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET},
				A:   net.IPv4(127, 0, 0, 1),
			}}
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{Addr: *addr, Net: "udp", Handler: h}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(*max):
		}
		srv.Shutdown()
	}()
	fmt.Println("bare DNS on", *addr)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
