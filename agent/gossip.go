package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"time"

	"consulate/config"
	"consulate/federation"
	"consulate/gossip"
	"consulate/lan"
	"consulate/structs"
	"consulate/userevent"
	"consulate/wan"
)

// gossipCommon fills what the LAN and WAN pools configure alike.
func (a *Agent) gossipCommon(g *gossip.Config, bind, advertise net.IP, port int, reconnect time.Duration, tune config.GossipRuntime) {
	g.BindAddr = bind.String()
	g.BindPort = port
	g.AdvertiseAddr = advertise.String()
	g.AdvertisePort = port
	if reconnect > 0 {
		g.ReconnectTimeout = reconnect
	}
	g.Logger = a.base
	// encrypt_verify_incoming/outgoing off: the steps of turning gossip
	// encryption on in a running cluster.
	g.DisableVerifyIncoming = !a.cfg.EncryptVerifyIncoming
	g.DisableVerifyOutgoing = !a.cfg.EncryptVerifyOutgoing
	gossip.Tuning(tune).Apply(g.Memberlist)
}

func (a *Agent) startLAN() error {
	rt := a.cfg
	lc := lan.DefaultConfig()
	g := lc.Gossip
	g.NodeName = rt.NodeName
	a.gossipCommon(g, rt.SerfBindAddrLAN, rt.AdvertiseAddrLAN, rt.SerfPortLAN, rt.ReconnectTimeoutLAN, rt.GossipLAN)
	a.applyKeyring(g, a.lanKeys, keyringFile)
	g.RejoinAfterLeave = rt.RejoinAfterLeave
	g.UserEventSizeLimit = userevent.SizeLimit
	if dir := a.dataDir(); dir != "" {
		g.SnapshotPath = filepath.Join(dir, "serf", "local.snapshot")
	}
	lc.Datacenter = rt.Datacenter
	lc.NodeID = a.nodeID
	lc.Server = rt.ServerMode
	lc.ServerPort = rt.ServerPort
	lc.Build = a.opts.Version
	lc.BootstrapExpect = rt.BootstrapExpect
	lc.Bootstrap = rt.Bootstrap || rt.DevMode
	// ports.serf_wan = -1: no WAN pool, nothing to flood-join.
	lc.WANJoinPort = max(rt.SerfPortWAN, 0)
	if rt.ServerMode && rt.AdvertiseAddrWAN != nil && !rt.AdvertiseAddrWAN.Equal(rt.AdvertiseAddrLAN) {
		// Local gateways carry conns for this server's WAN address.
		if g.Tags == nil {
			g.Tags = map[string]string{}
		}
		g.Tags[structs.TagWANAddr] = rt.AdvertiseAddrWAN.String()
	}
	if rt.GatewayEnabled {
		// Servers and the other gateways find this gateway by this tag.
		if g.Tags == nil {
			g.Tags = map[string]string{}
		}
		g.Tags[structs.TagGateway] = a.gatewayAdvertise()
	}
	p, err := lan.New(lc)
	if err != nil {
		return fmt.Errorf("LAN gossip: %w", err)
	}
	a.lan = p
	return nil
}

func (a *Agent) startWAN() error {
	rt := a.cfg
	if rt.SerfPortWAN <= 0 {
		return nil
	}
	wc := wan.DefaultConfig()
	g := wc.Gossip
	a.gossipCommon(g, rt.SerfBindAddrWAN, rt.AdvertiseAddrWAN, rt.SerfPortWAN, rt.ReconnectTimeoutWAN, rt.GossipWAN)
	a.applyKeyring(g, a.wanKeys, keyringFileWAN)
	// Failure detection within about 15 s (memberlist's WAN defaults take
	// minutes); shared with bench/scale.
	wan.TuneServer(g.Memberlist)
	if dir := a.dataDir(); dir != "" {
		g.SnapshotPath = filepath.Join(dir, "serf", "remote.snapshot")
	}
	wc.NodeName = rt.NodeName
	wc.Datacenter = rt.Datacenter
	wc.NodeID = a.nodeID
	wc.ServerPort = rt.ServerPort
	wc.Build = a.opts.Version
	wc.BootstrapExpect = rt.BootstrapExpect
	wc.Gateway = a.gwTransport // nil without gateway mode
	p, err := wan.New(wc)
	if err != nil {
		return fmt.Errorf("WAN gossip: %w", err)
	}
	a.wan = p
	// This server is a server of its own datacenter from the start.
	a.router.UpdateServer(federation.Server{Name: p.LocalName(), Datacenter: rt.Datacenter,
		Addr: structs.ServerAddr(a.rpcAddr()), Status: structs.StatusAlive})
	return nil
}

// lanEventLoop feeds LAN membership to the local server list, the server's
// leader duties and bootstrap, and stores user events.
func (a *Agent) lanEventLoop(ctx context.Context) {
	a.syncLANServers(a.lan.Members())
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-a.lan.Events():
			if !ok {
				return
			}
			if ev.Type == gossip.User {
				a.events.Handle(ev.User)
				continue
			}
			// One copy of the member list per event, for every reader.
			members := a.lan.Members()
			a.syncLANServers(members)
			if ev.Type == gossip.MemberJoin && a.server == nil && hasServer(ev.Members) {
				// A server is reachable now: sync at once rather than at
				// the next retry of a sync that found none.
				a.wg.Add(1)
				go func() {
					defer a.wg.Done()
					a.state.SyncFull(ctx)
				}()
			}
			if a.server != nil {
				a.server.MemberChanged()
				if _, err := a.server.MaybeBootstrap(members); err != nil {
					a.logger.Error("bootstrap", "error", err)
				}
				switch ev.Type {
				case gossip.MemberJoin:
					a.floodJoinWAN(ev.Members)
				case gossip.MemberReap:
					for _, m := range ev.Members {
						a.server.MemberReaped(m)
					}
				}
			}
		}
	}
}

func hasServer(members []structs.Member) bool {
	for _, m := range members {
		if _, ok := structs.ParseServer(m); ok {
			return true
		}
	}
	return false
}

// syncLANServers refreshes the client-side server list and the local
// gateways view from the pool's members.
func (a *Agent) syncLANServers(members []structs.Member) {
	a.localServers.SyncMembers(members, a.cfg.Datacenter)
	a.refreshLocalGateways(members)
}

// floodJoinWAN joins servers of this datacenter that appear on the LAN to
// the WAN pool, so joining one server across datacenters brings in all.
func (a *Agent) floodJoinWAN(members []structs.Member) {
	if a.wan == nil {
		return
	}
	addrs := wan.FloodJoinAddrs(members, a.wan.Members(), a.cfg.Datacenter, a.cfg.NodeName)
	if len(addrs) == 0 {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if n, err := a.wan.Join(addrs, true); err != nil {
			a.logger.Warn("WAN flood join", "addrs", addrs, "joined", n, "error", err)
		}
	}()
}

// wanEventLoop feeds WAN membership to the federation router.
func (a *Agent) wanEventLoop(ctx context.Context) {
	a.syncRouter()
	// The router's probes of other datacenters' servers, for as long as
	// the WAN pool is fed in.
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.router.Run(ctx)
	}()
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.syncRouter()
		case ev, ok := <-a.wan.Events():
			if !ok {
				return
			}
			if ev.Type == gossip.User {
				continue
			}
			a.router.LogMembersChanged(ev.Type.String(), ev.Members)
			a.syncRouter()
		}
	}
}

// syncRouter refreshes the router's view of every datacenter.
func (a *Agent) syncRouter() {
	a.router.SyncMembers(a.wan.Members(), a.wan.LocalName())
}

// Members lists the LAN pool, or the WAN pool with wan set.
func (a *Agent) Members(wanPool bool) []structs.Member {
	if wanPool {
		if a.wan == nil {
			return []structs.Member{}
		}
		return a.wan.Members()
	}
	return a.lan.Members()
}

// Join joins the LAN (or WAN) pool through addrs.
func (a *Agent) Join(ctx context.Context, addrs []string, wanPool bool) (int, error) {
	if wanPool {
		if a.wan == nil {
			return 0, &structs.BadRequestError{Reason: "WAN join is only possible on servers"}
		}
		var n int
		var err error
		if a.gatewayMode() {
			n, err = a.joinThroughGateways(ctx, addrs)
		} else {
			n, err = a.wan.JoinFederation(gossip.WithDefaultPort(addrs, a.cfg.SerfPortWAN))
		}
		a.syncRouter()
		return n, err
	}
	return a.lan.Join(gossip.WithDefaultPort(addrs, a.cfg.SerfPortLAN), true)
}

// ForceLeave turns a failed member into left (and with prune forgets it).
func (a *Agent) ForceLeave(ctx context.Context, node string, prune, wanPool bool) error {
	if wanPool {
		if a.wan == nil {
			return &structs.BadRequestError{Reason: "WAN force-leave is only possible on servers"}
		}
		err := a.wan.ForceLeave(node, prune)
		a.syncRouter()
		return err
	}
	return a.lan.ForceLeave(node, prune)
}

// startJoins runs -join (fatal when nobody answers), -join-wan, and the
// retry-join loops in the background, plus -rejoin.
func (a *Agent) startJoins(ctx, runCtx context.Context) error {
	rt := a.cfg
	// Members known before a restart (none after a graceful leave,
	// unless rejoin_after_leave) are joined again.
	if prev := a.lan.PreviousMemberAddrs(); len(prev) > 0 {
		if n, err := a.lan.Join(prev, true); err != nil {
			a.logger.Warn("rejoin failed", "previous", prev, "joined", n, "error", err)
		}
	}
	if a.wan != nil {
		prev, remote := a.wanRejoinAddrs()
		if len(prev) > 0 {
			if n, err := a.wan.Join(prev, true); err != nil {
				a.logger.Warn("WAN rejoin failed", "previous", prev, "joined", n, "error", err)
			}
		}
		a.rejoinThroughGateways(runCtx, remote)
	}
	if a.gatewayMode() && a.wan != nil && (len(rt.StartJoinAddrsWAN) > 0 || len(rt.RetryJoinWAN) > 0) {
		a.logger.Info("gateway mode: start_join_wan and retry_join_wan addresses are federation gateways, joined through the local gateways",
			"start_join_wan", rt.StartJoinAddrsWAN, "retry_join_wan", rt.RetryJoinWAN)
	}
	if len(rt.StartJoinAddrsLAN) > 0 {
		if _, err := a.Join(ctx, rt.StartJoinAddrsLAN, false); err != nil {
			return fmt.Errorf("join: %w", err)
		}
	}
	if len(rt.StartJoinAddrsWAN) > 0 && a.wan != nil {
		if _, err := a.Join(ctx, rt.StartJoinAddrsWAN, true); err != nil {
			return fmt.Errorf("join -wan: %w", err)
		}
	}
	if len(rt.RetryJoinLAN) > 0 {
		a.retryJoin(runCtx, "LAN", rt.RetryJoinLAN, rt.RetryIntervalLAN, rt.RetryMaxAttemptsLAN, false)
	}
	if len(rt.RetryJoinWAN) > 0 && a.wan != nil {
		a.retryJoin(runCtx, "WAN", rt.RetryJoinWAN, rt.RetryIntervalWAN, rt.RetryMaxAttemptsWAN, true)
	}
	a.startPrimaryGateways(runCtx)
	return nil
}

// wanRejoinAddrs is the WAN snapshot's members to rejoin at start. In
// gateway mode only this datacenter's are joined directly; the servers
// of other datacenters the snapshot has an RPC address for are returned
// as remote, to be rejoined by name through the local gateways
// (rejoinThroughGateways), never directly.
func (a *Agent) wanRejoinAddrs() (addrs []string, remote []wan.RemoteServer) {
	if !a.gatewayMode() {
		return a.wan.PreviousMemberAddrs(), nil
	}
	addrs, remote, skipped := localRejoinAddrs(a.wan.PreviousMembers(), a.cfg.Datacenter)
	if len(skipped) > 0 {
		a.logger.Info("gateway mode: servers of other datacenters in the WAN snapshot without an RPC address (an older snapshot) come back through the gateways (primary_gateways, retry_join_wan, join -wan) instead",
			"skipped", skipped)
	}
	return addrs, remote
}

// localRejoinAddrs splits the WAN snapshot's members: join addresses
// ("name/host:port") of dc's servers, the servers of other datacenters
// with their RPC addresses, and the names of those without one.
func localRejoinAddrs(prev []gossip.PreviousMember, dc string) (addrs []string, remote []wan.RemoteServer, skipped []string) {
	for _, m := range prev {
		if _, mdc, ok := wan.SplitMemberName(m.Name); ok && mdc != dc {
			if m.RPCAddr == "" {
				skipped = append(skipped, m.Name)
				continue
			}
			remote = append(remote, wan.RemoteServer{Name: m.Name, RPCAddr: m.RPCAddr, GossipAddr: m.Addr})
			continue
		}
		addrs = append(addrs, gossip.JoinAddr(m.Name, m.Addr))
	}
	return addrs, remote, skipped
}

// Rejoining the snapshot's other datacenters through the gateways is
// tried every gatewayRejoinInterval, at most gatewayRejoinAttempts times:
// the local gateways are known only once the LAN is joined.
const (
	gatewayRejoinInterval = 2 * time.Second
	gatewayRejoinAttempts = 60
)

// rejoinThroughGateways rejoins, in gateway mode and in the background,
// the servers of other datacenters the WAN snapshot remembers, by name
// through the local gateways, until one answers or every one of them is
// alive in the WAN pool again (their side rejoined us first).
func (a *Agent) rejoinThroughGateways(ctx context.Context, servers []wan.RemoteServer) {
	if len(servers) == 0 {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		gossip.RetryJoin(ctx, "WAN (snapshot, through gateways)", func() (int, error) {
			alive := map[string]bool{}
			for _, m := range a.wan.Members() {
				if m.Status == structs.StatusAlive {
					alive[m.Name] = true
				}
			}
			var missing []wan.RemoteServer
			for _, s := range servers {
				if !alive[s.Name] {
					missing = append(missing, s)
				}
			}
			if len(missing) == 0 {
				return len(servers), nil
			}
			if len(a.localGatewayView().addrs) == 0 {
				return 0, errors.New("no alive local federation gateway known yet")
			}
			return a.wan.JoinThroughGateways(missing)
		}, gatewayRejoinInterval, gatewayRejoinAttempts, a.logger)
	}()
}

// retryJoin runs retry_join for one pool in the background.
func (a *Agent) retryJoin(ctx context.Context, pool string, addrs []string, interval time.Duration, max int, wanPool bool) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		gossip.RetryJoin(ctx, pool, func() (int, error) { return a.Join(ctx, addrs, wanPool) }, interval, max, a.logger)
	}()
}

// FireEvent fires a user event in dc ("" or the local one: through the
// LAN pool here; else through a server of dc) with token, or the default
// token when it is "", as Consul: the servers check event:write on it.
func (a *Agent) FireEvent(ctx context.Context, ev *structs.UserEvent, dc, token string) error {
	req, err := userevent.FireRequest(ev, dc)
	if err != nil {
		return err
	}
	req.Token = token
	return a.rpcWithToken(a.tokens.UserToken)(ctx, structs.MethodEventFire, req, &structs.EventFireResponse{})
}

// jitter spreads periodic work.
func jitter(d time.Duration) time.Duration { return d + time.Duration(rand.Int64N(int64(d)/8+1)) }

// lanMembers lists the LAN pool for the server's reconciliation; empty
// until the pool exists.
func (a *Agent) lanMembers() []structs.Member {
	if a.lan == nil {
		return nil
	}
	return a.lan.Members()
}
