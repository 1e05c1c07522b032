package agent

import (
	"context"

	"consulate/rexec"
	"consulate/structs"
)

// buildRemoteExec builds the agent side of `consulate exec` when
// disable_remote_exec is false; with it on (the default) `_rexec` events
// are logged and ignored, as Consul does. New calls it, so a.rexec is set
// before any goroutine that may call deliverEvent starts, and never
// changes after.
func (a *Agent) buildRemoteExec() error {
	if a.cfg.DisableRemoteExec {
		return nil
	}
	cfg := rexec.DefaultConfig()
	cfg.NodeName = a.cfg.NodeName
	cfg.Datacenter = a.cfg.Datacenter
	cfg.Logger = a.base
	x, err := rexec.New(cfg, rexec.Deps{RPC: a.RPC, Token: a.tokens.AgentToken})
	if err != nil {
		return err
	}
	a.rexec = x
	return nil
}

// deliverEvent hands a new user event that passed this agent's filters to
// its internal handlers (remote exec). It must not block.
func (a *Agent) deliverEvent(ev *structs.UserEvent) {
	if ev.Name != rexec.EventName {
		return
	}
	if a.rexec == nil {
		a.logger.Info("ignoring remote exec event, disabled.", "event_name", ev.Name, "event_id", ev.ID)
		return
	}
	a.rexec.Handle(ev)
}

// shutdownRemoteExec kills running remote exec jobs.
func (a *Agent) shutdownRemoteExec(ctx context.Context) {
	if a.rexec != nil {
		a.rexec.Shutdown(ctx)
	}
}
