package acl

import "fmt"

// Resource is a kind of object ACL rules govern, named as in Consul's rule
// language without the "_prefix" suffix.
type Resource string

// Resources of Consul 1.16 OSS. ResourceMesh and ResourcePeering are parsed
// and decided like the others though nothing in Consulate asks for them.
const (
	ResourceACL      Resource = "acl"
	ResourceAgent    Resource = "agent"
	ResourceEvent    Resource = "event"
	ResourceKey      Resource = "key"
	ResourceKeyring  Resource = "keyring"
	ResourceNode     Resource = "node"
	ResourceOperator Resource = "operator"
	ResourceQuery    Resource = "query"
	ResourceService  Resource = "service"
	ResourceSession  Resource = "session"
	ResourceMesh     Resource = "mesh"
	ResourcePeering  Resource = "peering"
)

// String returns the resource's name in the rule language.
func (r Resource) String() string { return string(r) }

// Segmented reports whether rules for r name objects (`key "a" {...}`,
// `key_prefix "a/" {...}`) rather than being a single setting
// (`operator = "read"`).
func (r Resource) Segmented() bool {
	switch r {
	case ResourceAgent, ResourceEvent, ResourceKey, ResourceNode,
		ResourceQuery, ResourceService, ResourceSession:
		return true
	}
	return false
}

// Valid reports whether r is a resource of the rule language.
func (r Resource) Valid() bool {
	switch r {
	case ResourceACL, ResourceKeyring, ResourceOperator, ResourceMesh, ResourcePeering:
		return true
	}
	return r.Segmented()
}

// Access is what a caller wants to do to an object.
type Access int

// Accesses. AccessList is Consul's key listing (KeyList); the other
// resources only know read and write.
const (
	AccessRead Access = iota + 1
	AccessList
	AccessWrite
)

// String returns "read", "list" or "write".
func (a Access) String() string {
	switch a {
	case AccessRead:
		return "read"
	case AccessList:
		return "list"
	case AccessWrite:
		return "write"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// Disposition is the `policy = "..."` value of a rule.
type Disposition int

// Dispositions. The zero Disposition means "not set".
const (
	PolicyDeny Disposition = iota + 1
	PolicyRead
	PolicyList
	PolicyWrite
)

// String returns the disposition as written in rules.
func (d Disposition) String() string {
	switch d {
	case PolicyDeny:
		return "deny"
	case PolicyRead:
		return "read"
	case PolicyList:
		return "list"
	case PolicyWrite:
		return "write"
	}
	return fmt.Sprintf("Disposition(%d)", int(d))
}

// parseDisposition maps a rule's policy string to a Disposition.
func parseDisposition(s string) (Disposition, bool) {
	switch s {
	case "deny":
		return PolicyDeny, true
	case "read":
		return PolicyRead, true
	case "list":
		return PolicyList, true
	case "write":
		return PolicyWrite, true
	}
	return 0, false
}

// Grants reports whether a rule with disposition d lets the holder do a, as
// Consul's enforce: write grants everything, list grants list and read, read
// grants read only, deny nothing.
func (d Disposition) Grants(a Access) bool {
	switch d {
	case PolicyWrite:
		return a == AccessRead || a == AccessList || a == AccessWrite
	case PolicyList:
		return a == AccessRead || a == AccessList
	case PolicyRead:
		return a == AccessRead
	}
	return false
}

// precedence orders dispositions for merging rules on the same object:
// deny > write > list > read (Consul's takesPrecedenceOver).
func (d Disposition) precedence() int {
	switch d {
	case PolicyDeny:
		return 4
	case PolicyWrite:
		return 3
	case PolicyList:
		return 2
	case PolicyRead:
		return 1
	}
	return 0
}
