package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"consulate/config"
	"consulate/structs"
)

func encodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// leaveTimeout bounds a graceful leave.
const leaveTimeout = 15 * time.Second

// Leave leaves the cluster gracefully and then shuts the agent down. It is
// what `consulate leave`, PUT /v1/agent/leave and Ctrl-C do.
func (a *Agent) Leave(ctx context.Context) error {
	a.logger.Info("gracefully leaving the cluster")
	a.notifyServiceManager(sdStopping)
	// The drain (performance.leave_drain_time) comes on top of the time
	// the leave itself may take.
	ctx, cancel := context.WithTimeout(ctx, leaveTimeout+a.cfg.LeaveDrainTime)
	defer cancel()
	var errs []error
	if a.server != nil && a.server.IsLeader() {
		// Hand leadership over so the rest keeps a leader at once.
		if err := a.server.Raft().LeadershipTransfer().Error(); err != nil {
			a.logger.Warn("leadership transfer before leave", "error", err)
		}
	}
	if a.wan != nil {
		if err := a.wan.Leave(ctx); err != nil {
			errs = append(errs, fmt.Errorf("WAN leave: %w", err))
		}
	}
	if a.lan != nil {
		if err := a.lan.Leave(ctx); err != nil {
			errs = append(errs, fmt.Errorf("LAN leave: %w", err))
		}
	}
	if a.server != nil && a.cfg.LeaveDrainTime > 0 {
		// performance.leave_drain_time: keep serving while clients notice
		// the leave and move their RPCs to the other servers.
		t := time.NewTimer(a.cfg.LeaveDrainTime)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	go func() {
		sctx, c := context.WithTimeout(context.Background(), leaveTimeout)
		defer c()
		a.Shutdown(sctx)
	}()
	return errors.Join(errs...)
}

// Reload re-reads the configuration files and applies what can change
// without a restart: services, checks and the log level.
func (a *Agent) Reload(ctx context.Context) error {
	a.notifyServiceManager(sdReloading)
	defer a.notifyServiceManager(sdReady)
	rt, err := config.Load(a.opts.LoadOpts)
	if err != nil {
		a.logger.Error("reload failed", "error", err)
		return &structs.BadRequestError{Reason: "reload failed: " + err.Error()}
	}
	// log_level applies at once, as Consul's reload does.
	if a.logLevel != nil {
		if lvl, err := ParseLevel(rt.LogLevel); err == nil && lvl != a.logLevel.Level() {
			a.logLevel.Set(lvl)
			a.logger.Info("log level changed", "level", rt.LogLevel)
		}
	}
	// New certificates serve new connections; open ones keep theirs. A
	// certificate that does not load keeps the old ones in place.
	if err := a.tls.Update(tlsConfig(rt)); err != nil {
		a.logger.Error("reload: TLS certificates", "error", err)
		return &structs.BadRequestError{Reason: "reload failed: " + err.Error()}
	}
	if err := a.state.ReplaceConfigServices(rt.Services, rt.Checks); err != nil {
		a.logger.Error("reload: applying services", "error", err)
		return err
	}
	a.logger.Info("configuration reloaded", "services", len(rt.Services), "checks", len(rt.Checks))
	return nil
}

// Run blocks until the agent is told to stop: SIGHUP reloads, SIGINT
// leaves (unless skip_leave_on_interrupt) and SIGTERM leaves when
// leave_on_terminate is set; then the agent shuts down. A leave through
// the API ends Run too.
func (a *Agent) Run() error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	for {
		select {
		case <-a.shutdownCh:
			return nil
		case sig := <-sigs:
			a.logger.Info("caught signal", "signal", sig.String())
			if sig == syscall.SIGHUP {
				a.Reload(context.Background())
				continue
			}
			leave := (sig == syscall.SIGINT && !a.cfg.SkipLeaveOnInterrupt) ||
				(sig == syscall.SIGTERM && a.cfg.LeaveOnTerminate)
			if leave {
				done := make(chan error, 1)
				go func() { done <- a.Leave(context.Background()) }()
				select {
				case err := <-done:
					if err != nil {
						a.logger.Warn("leave", "error", err)
					}
				case <-sigs:
					a.logger.Warn("second signal: stopping without a graceful leave")
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
			a.Shutdown(ctx)
			cancel()
			return nil
		}
	}
}

// watchLocal turns local state changes into broadcast notifications.
func (a *Agent) watchLocal(ctx context.Context) {
	ch, stop := a.state.Subscribe()
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			a.changes.Notify()
		}
	}
}

// sendCoordinates keeps this node's LAN coordinate in the catalog, for
// /v1/coordinate/nodes, `consulate rtt` and ?near sorting.
func (a *Agent) sendCoordinates(ctx context.Context, every time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter(every)):
		}
		c := a.lan.Coordinate()
		if c == nil {
			continue
		}
		req := &structs.CoordinateUpdateRequest{Datacenter: a.cfg.Datacenter, Node: a.cfg.NodeName, Coord: c}
		req.Token = a.tokens.AgentToken()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := a.RPC(cctx, structs.MethodCoordinateUpdate, req, &struct{}{}); err != nil {
			if structs.ACLRefused(err) {
				a.logger.Warn("Coordinate update blocked by ACLs", "error", err)
			} else {
				a.logger.Debug("coordinate update", "error", err)
			}
		}
		cancel()
	}
}
