// Package dns is Consulate's DNS interface: it answers Consul-style names
// (NAME.node[.DC].consul, [TAG.]NAME.service[.DC].consul,
// _NAME._TAG.service[.DC].consul, NAME.query[.DC].consul, HEXIP.addr.DC.consul)
// over UDP and TCP on top of github.com/miekg/dns, with SOA/NS for the
// domain, NXDOMAIN carrying the SOA, TTLs, truncation, EDNS and forwarding to
// recursors for names outside the domain.
//
// It reads the catalog only through the Backend interface it declares (the
// agent's read path: local replica or RPC through federation). When the
// backend also tracks its reads (Tracker: the agent's cache), replies built
// from them are kept packed and sent again, with only what depends on the
// query rewritten, until the read's index changes (packed.go); it holds no
// other state beyond its configuration. Every lookup has a deadline
// (Config.LookupTimeout) after which it answers SERVFAIL, and at most
// Config.MaxWaitingLookups lookups wait on the backend at once. It is not a general DNS server:
// it does no zone transfers, no DNSSEC signing and no caching of recursor
// answers.
package dns
