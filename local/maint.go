package local

import "consulate/structs"

// Consul's default maintenance notes.
const (
	DefaultServiceMaintReason = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message."
	DefaultNodeMaintReason    = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message."
)

// ServiceMaintCheckID is the ID of a service's maintenance check.
func ServiceMaintCheckID(serviceID string) string { return structs.ServiceMaintPrefix + serviceID }

// EnableServiceMaintenance puts a service in maintenance with a critical
// check; doing it twice keeps the first reason. The check syncs with
// token, the request's (as Consul stores it with the check), or like any
// API registration without one, the default token.
func (s *State) EnableServiceMaintenance(id, reason, token string) error {
	if s.Service(id) == nil {
		return unknown(ErrUnknownService, id)
	}
	cid := ServiceMaintCheckID(id)
	if s.Check(cid) != nil {
		return nil
	}
	if reason == "" {
		reason = DefaultServiceMaintReason
	}
	return s.addCheck(&structs.HealthCheck{
		CheckID: cid, Name: "Service Maintenance Mode", Notes: reason,
		ServiceID: id, Status: structs.HealthCritical, Type: "maintenance",
	}, nil, true, SourceMaintenance, token)
}

// DisableServiceMaintenance takes a service out of maintenance.
func (s *State) DisableServiceMaintenance(id string) error {
	if s.Service(id) == nil {
		return unknown(ErrUnknownService, id)
	}
	cid := ServiceMaintCheckID(id)
	if s.Check(cid) == nil {
		return nil
	}
	return s.RemoveCheck(cid, true)
}

// EnableNodeMaintenance puts the node in maintenance with a critical
// check; doing it twice keeps the first reason. The check syncs with
// token as EnableServiceMaintenance's does.
func (s *State) EnableNodeMaintenance(reason, token string) error {
	if s.Check(structs.NodeMaintCheckID) != nil {
		return nil
	}
	if reason == "" {
		reason = DefaultNodeMaintReason
	}
	return s.addCheck(&structs.HealthCheck{
		CheckID: structs.NodeMaintCheckID, Name: "Node Maintenance Mode", Notes: reason,
		Status: structs.HealthCritical, Type: "maintenance",
	}, nil, true, SourceMaintenance, token)
}

// DisableNodeMaintenance takes the node out of maintenance.
func (s *State) DisableNodeMaintenance() error {
	if s.Check(structs.NodeMaintCheckID) == nil {
		return nil
	}
	return s.RemoveCheck(structs.NodeMaintCheckID, true)
}
