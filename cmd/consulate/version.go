package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/urfave/cli/v2"
)

// These are the one place the release identity lives. They are variables
// only so the build can stamp them:
//
//	go build -ldflags "-X main.Version=0.2.0 -X main.GitCommit=$(git rev-parse --short HEAD) -X main.BuildDate=$(date -u +%FT%TZ)"
//
// Nothing writes them at run time.
var (
	// Version is the semantic version of this build, without a leading "v".
	Version = "0.1.0"
	// VersionPrerelease marks a pre-release ("dev", "rc1"); empty for a release.
	VersionPrerelease = ""
	// GitCommit is the revision the binary was built from; empty falls back to
	// the VCS stamp Go embeds, then to "dev".
	GitCommit = ""
	// BuildDate is the RFC 3339 build time; empty omits the line.
	BuildDate = ""
)

// Protocol versions the gossip layer speaks, printed by `version` the way
// Consul prints them.
const (
	protocolDefault = 2
	protocolMin     = 2
	protocolMax     = 3
)

// humanVersion is "v0.1.0" or "v0.1.0-dev".
func humanVersion() string {
	v := "v" + Version
	if VersionPrerelease != "" {
		v += "-" + VersionPrerelease
	}
	return v
}

// revision is the git commit of this build, or "dev" when nothing stamped it.
func revision() string {
	if GitCommit != "" {
		return GitCommit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				if len(s.Value) > 8 {
					return s.Value[:8]
				}
				return s.Value
			}
		}
	}
	return "dev"
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "Consulate %s\n", humanVersion())
	fmt.Fprintf(w, "Revision %s\n", revision())
	if BuildDate != "" {
		fmt.Fprintf(w, "Build Date %s\n", BuildDate)
	}
	fmt.Fprintf(w, "Protocol %d spoken by default, understands %d to %d (agent will automatically use protocol >%d when speaking to compatible agents)\n",
		protocolDefault, protocolMin, protocolMax, protocolDefault)
}

// versionInfo is `version -format=json`, in the shape of Consul's
// (VersionInfo: Version, Revision, Prerelease, BuildDate, RPC).
type versionInfo struct {
	Version    string
	Revision   string
	Prerelease string
	BuildDate  time.Time
	RPC        rpcVersionInfo
}

// rpcVersionInfo is the protocol range inside versionInfo.
type rpcVersionInfo struct {
	Default int
	Min     int
	Max     int
}

func currentVersionInfo() versionInfo {
	info := versionInfo{
		Version:    Version,
		Revision:   revision(),
		Prerelease: VersionPrerelease,
		RPC:        rpcVersionInfo{Default: protocolDefault, Min: protocolMin, Max: protocolMax},
	}
	if t, err := time.Parse(time.RFC3339, BuildDate); err == nil {
		info.BuildDate = t
	}
	return info
}

func (e *env) versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "Prints the Consulate version",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "pretty", Usage: "output format {pretty|json}"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			switch f := c.String("format"); f {
			case "pretty":
				printVersion(e.stdout)
			case "json":
				b, err := json.MarshalIndent(currentVersionInfo(), "", "    ")
				if err != nil {
					return fmt.Errorf("Error marshaling version info: %w", err)
				}
				fmt.Fprintln(e.stdout, string(b))
			default:
				return fmt.Errorf("Unknown format: %s", f)
			}
			return nil
		},
	}
}
