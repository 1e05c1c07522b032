package httpapi

import (
	"net/http"

	"consulate/structs"
)

// translate reports whether answers about dc should carry WAN addresses
// (translate_wan_addrs, for a datacenter other than ours), and says so in
// the header the official client reads.
func (s *Server) translate(w http.ResponseWriter, dc string) bool {
	if !s.translates(dc) {
		return false
	}
	w.Header().Set("X-Consul-Translate-Addresses", "true")
	return true
}

// wanAddr is a node's WAN address, or its address when it has none.
func wanAddr(addr string, tagged map[string]string) string {
	if a := tagged["wan"]; a != "" {
		return a
	}
	return addr
}

// The replies may share memory with the state store (in-process RPC on a
// server), so translation copies what it changes.

func translateNodes(in structs.Nodes) {
	for i, n := range in {
		cp := *n
		cp.Address = wanAddr(n.Address, n.TaggedAddresses)
		in[i] = &cp
	}
}

func translateServiceNodes(in structs.ServiceNodes) {
	for i, n := range in {
		cp := *n
		cp.Address = wanAddr(n.Address, n.TaggedAddresses)
		if a, ok := n.ServiceTaggedAddresses["wan"]; ok && a.Address != "" {
			cp.ServiceAddress = a.Address
			if a.Port != 0 {
				cp.ServicePort = a.Port
			}
		}
		in[i] = &cp
	}
}

func translateCheckServiceNodes(in structs.CheckServiceNodes) {
	for i, n := range in {
		if n.Node != nil {
			cp := *n.Node
			cp.Address = wanAddr(n.Node.Address, n.Node.TaggedAddresses)
			in[i].Node = &cp
		}
		if n.Service != nil {
			if a, ok := n.Service.TaggedAddresses["wan"]; ok && a.Address != "" {
				cp := *n.Service
				cp.Address = a.Address
				if a.Port != 0 {
					cp.Port = a.Port
				}
				in[i].Service = &cp
			}
		}
	}
}

// translates reports whether answers about dc carry WAN addresses.
func (s *Server) translates(dc string) bool {
	return s.cfg.TranslateWANAddrs && dc != "" && dc != s.cfg.Datacenter
}
