package acl_test

import (
	"fmt"

	"consulate/acl"
)

func ExampleNewAuthorizer() {
	p, err := acl.ParsePolicy(`
key_prefix "" { policy = "read" }
key_prefix "app/" { policy = "write" }
key "app/secret" { policy = "deny" }
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	authz := acl.NewAuthorizer(false, p)
	fmt.Println(authz.Allow(acl.ResourceKey, "app/config", acl.AccessWrite))
	fmt.Println(authz.Allow(acl.ResourceKey, "app/secret", acl.AccessRead))
	fmt.Println(authz.AllowPrefix(acl.ResourceKey, "app/", acl.AccessWrite))
	fmt.Println(authz.Allow(acl.ResourceService, "web", acl.AccessRead))

	_, err = acl.ParsePolicy("key_prefix \"\" {\n  policy = \"admin\"\n}")
	fmt.Println(err)
	// Output:
	// true
	// false
	// false
	// false
	// line 2: key_prefix "" policy: invalid policy "admin" (want "read", "write", "deny", or "list" for keys)
}
