package agent

import (
	"context"
	"fmt"

	"consulate/acl"
	"consulate/httpapi"
	"consulate/local"
	"consulate/structs"
)

// httpAgent adapts the Agent to the interface the HTTP API declares.
type httpAgent struct{ a *Agent }

// RPC forwards a user's request; one without a token carries the
// default token (acl.tokens.default), as Consul.
func (h *httpAgent) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	return h.a.rpcWithToken(h.a.tokens.UserToken)(ctx, method, args, reply)
}

func (h *httpAgent) Authorize(ctx context.Context, secret string) (acl.Authorizer, string, error) {
	return h.a.Authorize(ctx, secret)
}

// SetAgentToken serves PUT /v1/agent/token/:type.
func (h *httpAgent) SetAgentToken(kind, secret string) error { return h.a.SetAgentToken(kind, secret) }

func (h *httpAgent) Self() httpapi.Self { return h.a.self() }

func (h *httpAgent) Members(wan bool) []structs.Member { return h.a.Members(wan) }

func (h *httpAgent) Join(ctx context.Context, addrs []string, wan bool) (int, error) {
	return h.a.Join(ctx, addrs, wan)
}

func (h *httpAgent) Leave(ctx context.Context) error { return h.a.Leave(ctx) }

func (h *httpAgent) ForceLeave(ctx context.Context, node string, prune, wan bool) error {
	return h.a.ForceLeave(ctx, node, prune, wan)
}

func (h *httpAgent) Reload(ctx context.Context) error { return h.a.Reload(ctx) }

func (h *httpAgent) AddService(def *structs.ServiceDefinition, replaceExisting bool, token string) error {
	return h.a.state.AddServiceWithToken(def.NodeService(), def.CheckTypes(), true, local.SourceAPI, token, replaceExisting)
}

func (h *httpAgent) RemoveService(id string) error { return h.a.state.RemoveService(id, true) }

func (h *httpAgent) Services() map[string]*structs.NodeService { return h.a.state.Services() }

func (h *httpAgent) Checks() map[string]*structs.HealthCheck { return h.a.state.Checks() }

func (h *httpAgent) AddCheck(ct *structs.CheckType, token string) error {
	hc := &structs.HealthCheck{
		Node: h.a.cfg.NodeName, CheckID: ct.CheckID, Name: ct.Name, Notes: ct.Notes,
		ServiceID: ct.ServiceID, Status: ct.Status, Type: ct.Kind(),
	}
	if hc.Status == "" {
		hc.Status = structs.HealthCritical
	}
	return h.a.state.AddCheckWithToken(hc, ct, true, token)
}

func (h *httpAgent) RemoveCheck(id string) error { return h.a.state.RemoveCheck(id, true) }

func (h *httpAgent) UpdateTTLCheck(id, status, output string) error {
	return h.a.state.UpdateTTLCheck(id, status, output)
}

func (h *httpAgent) ServiceMaintenance(id string, enable bool, reason, token string) error {
	if enable {
		return h.a.state.EnableServiceMaintenance(id, reason, token)
	}
	return h.a.state.DisableServiceMaintenance(id)
}

func (h *httpAgent) NodeMaintenance(enable bool, reason, token string) error {
	if enable {
		return h.a.state.EnableNodeMaintenance(reason, token)
	}
	return h.a.state.DisableNodeMaintenance()
}

func (h *httpAgent) SyncChanges(ctx context.Context) error { return h.a.state.SyncNow(ctx) }

func (h *httpAgent) LocalChanged() <-chan struct{} { return h.a.changes.Wait() }

// FireEvent fires with the request's token, else the default token, as
// Consul (the servers check event:write on it).
func (h *httpAgent) FireEvent(ctx context.Context, ev *structs.UserEvent, dc, token string) error {
	return h.a.FireEvent(ctx, ev, dc, token)
}

func (h *httpAgent) UserEvents() []*structs.UserEvent { return h.a.events.List() }

// self builds /v1/agent/self.
func (a *Agent) self() httpapi.Self {
	rt := a.cfg
	s := httpapi.Self{
		NodeName: rt.NodeName, NodeID: a.nodeID, Datacenter: rt.Datacenter, Server: rt.ServerMode,
		Version: a.opts.Version, Revision: a.opts.Revision, BuildDate: a.opts.BuildDate, BindAddr: rt.BindAddr.String(), AdvertiseAddr: rt.AdvertiseAddrLAN.String(),
		Stats: a.Stats(), Meta: rt.NodeMeta,
		DebugConfig: map[string]any{
			"Datacenter": rt.Datacenter, "NodeName": rt.NodeName, "ServerMode": rt.ServerMode,
			"DevMode": rt.DevMode, "Bootstrap": rt.Bootstrap, "BootstrapExpect": rt.BootstrapExpect,
			"DataDir": rt.DataDir, "DNSDomain": rt.DNSDomain, "EncryptKey": len(rt.EncryptKey) > 0,
			"EnableDebug": rt.EnableDebug,
		},
	}
	if a.lan != nil {
		s.Member = a.lan.LocalMember()
	}
	return s
}

// Stats is what `consulate info` prints, by section.
func (a *Agent) Stats() map[string]map[string]string {
	rt := a.cfg
	out := map[string]map[string]string{
		"agent": {
			"check_monitors": "0", "checks": fmt.Sprint(len(a.state.Checks())),
			"services": fmt.Sprint(len(a.state.Services())), "version": a.opts.Version,
		},
		"consul": {
			"server": fmt.Sprint(rt.ServerMode), "datacenter": rt.Datacenter,
			"bootstrap": fmt.Sprint(rt.Bootstrap || rt.DevMode),
		},
		"build": {"version": a.opts.Version, "prerelease": ""},
	}
	if a.server != nil {
		for k, v := range a.server.Stats() {
			out[k] = v
		}
		leader := string(a.server.Leader())
		out["consul"]["leader"] = fmt.Sprint(a.server.IsLeader())
		out["consul"]["leader_addr"] = leader
		out["consul"]["known_datacenters"] = fmt.Sprint(len(a.router.KnownDatacenters()))
	} else {
		out["consul"]["known_servers"] = fmt.Sprint(len(a.localServers.Addrs()))
	}
	if a.lan != nil {
		out["serf_lan"] = a.lan.Stats()
	}
	if a.wan != nil {
		out["serf_wan"] = a.wan.Stats()
	}
	return out
}
