package local

import (
	"errors"
	"fmt"

	"consulate/structs"
)

// ReplaceConfigServices makes the config-sourced services and checks
// match defs and checks (standalone check definitions): new ones are
// added, changed ones updated (a check's runner restarts only when its
// definition changed) and config-sourced ones no longer listed removed.
// A config service replaces an API-registered one with the same ID and
// purges its persisted copy. A definition's Token is what it syncs with
// (acl.tokens.config_file_service_registration, then the default token,
// when empty). Invalid entries are reported together; the valid ones are
// still applied.
func (s *State) ReplaceConfigServices(defs []*structs.ServiceDefinition, checks []*structs.CheckType) error {
	var errs []error
	wantServices := map[string]bool{}
	wantChecks := map[string]bool{}
	for i, def := range defs {
		if def == nil {
			errs = append(errs, badInput(ErrInvalidService, "service definition %d is empty", i+1))
			continue
		}
		ns := def.NodeService()
		if wantServices[ns.ID] {
			errs = append(errs, badInput(ErrInvalidService, "service %q defined twice", ns.ID))
			continue
		}
		if src := s.ServiceSource(ns.ID); src != "" && src != SourceConfig {
			s.mu.Lock()
			s.removeFile(servicesDir, ns.ID)
			s.mu.Unlock()
		}
		cts := def.CheckTypes()
		if err := s.addService(ns, cts, false, SourceConfig, def.Token, true); err != nil {
			errs = append(errs, fmt.Errorf("service %q: %w", ns.ID, err))
			continue
		}
		wantServices[ns.ID] = true
		for _, id := range checkIDs(ns.ID, cts) {
			wantChecks[id] = true
		}
	}
	for i, ct := range checks {
		if ct == nil {
			errs = append(errs, badInput(ErrInvalidCheck, "check definition %d is empty", i+1))
			continue
		}
		hc := &structs.HealthCheck{
			CheckID: ct.CheckID, Name: ct.Name, Notes: ct.Notes,
			ServiceID: ct.ServiceID, Status: ct.Status,
		}
		if hc.CheckID == "" {
			hc.CheckID = hc.Name
		}
		if err := s.addCheck(hc, ct, false, SourceConfig, ct.Token); err != nil {
			errs = append(errs, fmt.Errorf("check %q: %w", hc.CheckID, err))
			continue
		}
		wantChecks[hc.CheckID] = true
	}

	s.mu.Lock()
	var goneServices, goneChecks []string
	for id, ss := range s.services {
		if !ss.deleted && ss.source == SourceConfig && !wantServices[id] {
			goneServices = append(goneServices, id)
		}
	}
	for id, c := range s.checks {
		if !c.deleted && c.source == SourceConfig && !wantChecks[id] && !contains(goneServices, c.check.ServiceID) {
			goneChecks = append(goneChecks, id)
		}
	}
	s.mu.Unlock()
	for _, id := range goneServices {
		if err := s.RemoveService(id, false); err != nil && !errors.Is(err, ErrUnknownService) {
			errs = append(errs, err)
		}
	}
	for _, id := range goneChecks {
		if err := s.RemoveCheck(id, false); err != nil && !errors.Is(err, ErrUnknownCheck) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
