package acl

import (
	"fmt"
	"strings"

	"consulate/structs"
)

// PermissionDeniedError is a refusal in Consul's words, e.g.
// `Permission denied: token with AccessorID 'a1b2' lacks permission
// 'key:write' on "app/x"`. It is structs.ErrPermissionDenied for errors.Is,
// so the RPC and HTTP layers answer it 403 and the official client's
// IsErrPermissionDenied recognises it.
type PermissionDeniedError struct {
	// Accessor is the token's AccessorID; "" reads "provided token".
	Accessor string
	Resource Resource
	Access   Access
	// Name is the object refused; "" for acl, keyring, operator.
	Name string
}

// Error formats the refusal as Consul 1.16 does.
func (e *PermissionDeniedError) Error() string {
	var b strings.Builder
	b.WriteString(structs.ErrPermissionDenied.Error())
	if e.Resource == "" {
		return b.String()
	}
	if e.Accessor == "" {
		b.WriteString(": provided token")
	} else {
		fmt.Fprintf(&b, ": token with AccessorID '%s'", e.Accessor)
	}
	fmt.Fprintf(&b, " lacks permission '%s:%s'", e.Resource, e.Access)
	if e.Name != "" {
		fmt.Fprintf(&b, " on %q", e.Name)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, structs.ErrPermissionDenied) true.
func (e *PermissionDeniedError) Unwrap() error { return structs.ErrPermissionDenied }

// Check returns nil when authz allows a on name of r, and a
// *PermissionDeniedError naming accessor otherwise.
func Check(authz Authorizer, accessor string, r Resource, name string, a Access) error {
	if authz.Allow(r, name, a) {
		return nil
	}
	return &PermissionDeniedError{Accessor: accessor, Resource: r, Access: a, Name: name}
}
