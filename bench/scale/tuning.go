package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"

	"consulate/config"
	"consulate/gossip"
)

// gossipKeys are the keys of a gossip_lan / gossip_wan block; each is a
// flag of the same name with dashes (-probe-interval for gossip_lan,
// -wan-probe-interval for gossip_wan).
var gossipKeys = []struct {
	key      string
	duration bool
	usage    string
}{
	{"probe_interval", true, "interval between failure probes"},
	{"probe_timeout", true, "time to wait for a probe's ack"},
	{"suspicion_mult", false, "suspicion timeout = suspicion_mult × log10(N) × probe_interval"},
	{"gossip_interval", true, "interval between gossip rounds"},
	{"gossip_nodes", false, "members gossiped to per round"},
	{"retransmit_mult", false, "a message is retransmitted retransmit_mult × ceil(log10(N+1)) times"},
}

// gossipBlocks maps a flag prefix to the configuration block it sets.
var gossipBlocks = []struct{ prefix, block string }{{"", "gossip_lan"}, {"wan-", "gossip_wan"}}

// addTuningFlags registers one flag per gossip_lan and gossip_wan key on
// fs, each defaulting to the agent's default from def.
func addTuningFlags(fs *flag.FlagSet, def *config.Runtime) {
	for _, b := range gossipBlocks {
		rt := def.GossipLAN
		if b.block == "gossip_wan" {
			rt = def.GossipWAN
		}
		vals := map[string]int64{
			"probe_interval": int64(rt.ProbeInterval), "probe_timeout": int64(rt.ProbeTimeout),
			"suspicion_mult": int64(rt.SuspicionMult), "gossip_interval": int64(rt.GossipInterval),
			"gossip_nodes": int64(rt.GossipNodes), "retransmit_mult": int64(rt.RetransmitMult),
		}
		for _, k := range gossipKeys {
			name := b.prefix + strings.ReplaceAll(k.key, "_", "-")
			usage := fmt.Sprintf("%s.%s: %s", b.block, k.key, k.usage)
			if k.duration {
				fs.Duration(name, time.Duration(vals[k.key]), usage)
			} else {
				fs.Int(name, int(vals[k.key]), usage)
			}
		}
	}
}

// tuningSource turns the tuning flags set on fs into the configuration
// text an operator would write, one line per block, e.g.
//
//	gossip_lan { probe_interval = "800ms" suspicion_mult = 3 }
//
// Empty when no tuning flag was set.
func tuningSource(fs *flag.FlagSet) string {
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = f.Value.String() })
	var lines []string
	for _, b := range gossipBlocks {
		var items []string
		for _, k := range gossipKeys {
			v, ok := set[b.prefix+strings.ReplaceAll(k.key, "_", "-")]
			if !ok {
				continue
			}
			if k.duration {
				v = strconv.Quote(v)
			}
			items = append(items, k.key+" = "+v)
		}
		if len(items) > 0 {
			lines = append(lines, b.block+" { "+strings.Join(items, " ")+" }")
		}
	}
	return strings.Join(lines, "\n")
}

// loadTuning loads the agent's configuration with src (tuningSource's
// text) as a configuration file, so the flags are parsed, merged over the
// defaults and validated by the agent's own code, and returns the LAN and
// WAN tuning the agent would apply.
func loadTuning(src string) (lanT, wanT gossip.Tuning, err error) {
	opts := config.LoadOpts{Dev: true}
	if src != "" {
		opts.Sources = []config.Source{{Kind: config.SourceData, Path: "scale-flags.hcl", Data: []byte(src), Format: "hcl"}}
	}
	rt, err := config.Load(opts)
	if err != nil {
		return lanT, wanT, err
	}
	return gossip.Tuning(rt.GossipLAN), gossip.Tuning(rt.GossipWAN), nil
}

// timers are the failure-detection settings of a pool's memberlist, and
// what memberlist derives from them for a pool of Members.
type timers struct {
	ProbeInterval           time.Duration `json:"probe_interval_ns"`
	ProbeTimeout            time.Duration `json:"probe_timeout_ns"`
	SuspicionMult           int           `json:"suspicion_mult"`
	SuspicionMaxTimeoutMult int           `json:"suspicion_max_timeout_mult"`
	GossipInterval          time.Duration `json:"gossip_interval_ns"`
	GossipNodes             int           `json:"gossip_nodes"`
	RetransmitMult          int           `json:"retransmit_mult"`
	AwarenessMaxMultiplier  int           `json:"awareness_max_multiplier"`
	Members                 int           `json:"members"`
	// SuspicionMin is how long a suspect stays suspect once
	// SuspicionConfirmations other members confirm it; SuspicionMax
	// without confirmations (memberlist state.go suspectNode).
	SuspicionMin           time.Duration `json:"suspicion_min_ns"`
	SuspicionMax           time.Duration `json:"suspicion_max_ns"`
	SuspicionConfirmations int           `json:"suspicion_confirmations"`
}

// timersOf reads ml's timers and computes memberlist's suspicion timeouts
// for n members: min = suspicion_mult × max(1, log10(n)) × probe_interval
// (memberlist util.go suspicionTimeout), max = SuspicionMaxTimeoutMult ×
// min, reached after suspicion_mult − 2 confirmations (none when the pool
// is too small to give them).
func timersOf(ml *memberlist.Config, n int) timers {
	t := timers{
		ProbeInterval: ml.ProbeInterval, ProbeTimeout: ml.ProbeTimeout,
		SuspicionMult: ml.SuspicionMult, SuspicionMaxTimeoutMult: ml.SuspicionMaxTimeoutMult,
		GossipInterval: ml.GossipInterval, GossipNodes: ml.GossipNodes,
		RetransmitMult: ml.RetransmitMult, AwarenessMaxMultiplier: ml.AwarenessMaxMultiplier,
		Members: n,
	}
	t.SuspicionMin, t.SuspicionMax, t.SuspicionConfirmations = suspicionTimeouts(ml.SuspicionMult, ml.SuspicionMaxTimeoutMult, n, ml.ProbeInterval)
	return t
}

// suspicionTimeouts is memberlist v0.7.0's arithmetic for a suspect in a
// pool of n: the timeout with k confirmations, without any, and k.
func suspicionTimeouts(mult, maxMult, n int, probe time.Duration) (lo, hi time.Duration, k int) {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	lo = time.Duration(mult) * time.Duration(scale*1000) * probe / 1000
	k = mult - 2
	if n-2 < k {
		k = 0
	}
	return lo, time.Duration(maxMult) * lo, k
}

func (t timers) String() string {
	return fmt.Sprintf("probe_interval %s, probe_timeout %s, suspicion_mult %d (max ×%d), gossip_interval %s, gossip_nodes %d, retransmit_mult %d; "+
		"at %d members a suspect is declared failed %.2f s after the suspicion with %d confirmation(s), %.2f s with none",
		t.ProbeInterval, t.ProbeTimeout, t.SuspicionMult, t.SuspicionMaxTimeoutMult, t.GossipInterval, t.GossipNodes, t.RetransmitMult,
		t.Members, t.SuspicionMin.Seconds(), t.SuspicionConfirmations, t.SuspicionMax.Seconds())
}
