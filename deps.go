//go:build tools

package main

import (
	_ "github.com/hashicorp/consul/api"
	_ "github.com/hashicorp/go-memdb"
	_ "github.com/hashicorp/go-sockaddr/template"
	_ "github.com/hashicorp/hcl"
	_ "github.com/hashicorp/memberlist"
	_ "github.com/hashicorp/raft"
	_ "github.com/hashicorp/raft-boltdb/v2"
	_ "github.com/hashicorp/serf/coordinate"
	_ "github.com/hashicorp/yamux"
	_ "github.com/miekg/dns"
	_ "github.com/urfave/cli/v2"
	_ "github.com/hashicorp/go-msgpack/v2/codec"
)
