package acl

import (
	"errors"
	"testing"

	"consulate/structs"
)

func TestCheckAndPermissionDenied(t *testing.T) {
	authz := NewAuthorizer(false, ServiceIdentityPolicy("web"))
	if err := Check(authz, "a1", ResourceService, "web", AccessWrite); err != nil {
		t.Fatalf("allowed write refused: %v", err)
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"named", Check(authz, "a1b2", ResourceKey, "app/x", AccessWrite),
			`Permission denied: token with AccessorID 'a1b2' lacks permission 'key:write' on "app/x"`},
		{"unnamed", Check(authz, "a1b2", ResourceOperator, "", AccessRead),
			`Permission denied: token with AccessorID 'a1b2' lacks permission 'operator:read'`},
		{"no accessor", Check(authz, "", ResourceACL, "", AccessWrite),
			`Permission denied: provided token lacks permission 'acl:write'`},
		{"bare", &PermissionDeniedError{}, "Permission denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil || tc.err.Error() != tc.want {
				t.Fatalf("error %v, want %q", tc.err, tc.want)
			}
			if !errors.Is(tc.err, structs.ErrPermissionDenied) {
				t.Fatal("not structs.ErrPermissionDenied")
			}
		})
	}
}
