// Command scale measures Consulate's own gossip pools at scale, in one
// process: LAN pools of 100 to 1,000 members, a WAN federation of 20
// datacenters × 3 servers feeding federation routers, and soaks with
// packet loss. Every member binds its own loopback address (the LAN under
// 127.100.0.0/16, the WAN under 127.101.0.0/16) and the pools use the
// timers the agent uses. See bench/README.md, "Gossip at scale".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"consulate/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// Stopping a thousand pools can take long; a signal gets a grace
		// period, then the process ends regardless.
		<-ctx.Done()
		time.Sleep(20 * time.Second)
		fmt.Fprintln(os.Stderr, "scale: interrupted; forced exit after 20 s of shutdown")
		os.Exit(2)
	}()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// report is the -json output.
type report struct {
	Mode    string  `json:"mode"`
	Machine machine `json:"machine"`
	// Config is the gossip_lan / gossip_wan configuration the tuning
	// flags amount to; empty with the agent's defaults.
	Config     string     `json:"config,omitempty"`
	LAN        *lanResult `json:"lan,omitempty"`
	WAN        *wanResult `json:"wan,omitempty"`
	LANError   string     `json:"lan_error,omitempty"`
	WANError   string     `json:"wan_error,omitempty"`
	WallTimeNS int64      `json:"wall_time_ns"`
}

// machine is what the figures were measured on.
type machine struct {
	CPUs        int     `json:"cpus"`
	LoadBefore  string  `json:"load_before"`
	LoadAfter   string  `json:"load_after"`
	NoFileSoft  uint64  `json:"nofile_soft"`
	NoFileHard  uint64  `json:"nofile_hard"`
	Go          string  `json:"go"`
	MaxRSSMiB   float64 `json:"max_rss_mib"`
	GoroutineHi int     `json:"goroutines_peak_sampled"`
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func maxRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "lan", "lan, wan or soak")
	n := fs.Int("n", 100, "LAN members")
	seeds := fs.Int("seeds", 3, "LAN members every other member joins through")
	joinBatch := fs.Int("join-batch", 0, "LAN: join this many members at a time, each batch once all before it are alive everywhere (0: all at once)")
	kill := fs.Int("kill", 5, "LAN members killed (blackholed) for failure detection")
	dcs := fs.Int("dcs", 20, "WAN datacenters")
	servers := fs.Int("servers", 3, "WAN servers per datacenter")
	lanNet := fs.String("lan-net", "127.100.0.0", "LAN members bind BASE.x.y (a /16 of loopback)")
	wanNet := fs.String("wan-net", "127.101.0.0", "WAN servers bind BASE.dc.server")
	lanPort := fs.Int("lan-port", 8301, "LAN gossip port of every member")
	wanPort := fs.Int("wan-port", 8302, "WAN gossip port of every server")
	steady := fs.Duration("steady", 10*time.Second, "window for bandwidth and CPU")
	phase := fs.Duration("phase-timeout", 2*time.Minute, "bound on every wait")
	duration := fs.Duration("duration", 60*time.Second, "soak length")
	loss := fs.Float64("loss", 0.01, "soak: fraction of UDP packets dropped at send")
	pool := fs.String("pool", "both", "soak: lan, wan or both (one after the other)")
	jsonOut := fs.Bool("json", false, "print JSON instead of tables")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile (allocs, from the start) to this file at the end")
	// The agent's defaults, for the tuning flags' defaults.
	def, err := config.Load(config.LoadOpts{Dev: true})
	if err != nil {
		return fmt.Errorf("default config: %w", err)
	}
	addTuningFlags(fs, def)
	if err := fs.Parse(args); err != nil {
		return err
	}
	// The timers the agent uses: gossip_lan / gossip_wan, the tuning flags
	// read as that configuration.
	tuneSrc := tuningSource(fs)
	lanT, wanT, err := loadTuning(tuneSrc)
	if err != nil {
		return fmt.Errorf("tuning flags: %w", err)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		defer writeAllocs(*memProfile, stderr)
	}
	lanBase, wanBase := net.ParseIP(*lanNet).To4(), net.ParseIP(*wanNet).To4()
	if lanBase == nil || wanBase == nil || !lanBase.IsLoopback() || !wanBase.IsLoopback() {
		return errors.New("-lan-net and -wan-net must be IPv4 loopback addresses")
	}
	switch {
	case *n < 2 || *n > 60000:
		return errors.New("-n must be 2..60000")
	case *dcs < 2 || *dcs > 250 || *servers < 1 || *servers > 250:
		return errors.New("-dcs must be 2..250 and -servers 1..250")
	case *loss < 0 || *loss >= 1:
		return errors.New("-loss must be in [0,1)")
	}
	logf := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, a...)...)
		}
	}

	rep := report{Mode: *mode, Config: tuneSrc}
	rep.Machine.CPUs = runtime.NumCPU()
	rep.Machine.Go = runtime.Version()
	rep.Machine.NoFileSoft, rep.Machine.NoFileHard = raiseNoFile()
	rep.Machine.LoadBefore = loadavg()
	sink := installSink()
	stopSampling := sampleGoroutines(&rep.Machine.GoroutineHi)
	start := time.Now()

	lo := lanOpts{N: *n, Seeds: *seeds, Kill: *kill, JoinBatch: *joinBatch, Base: lanBase, Port: *lanPort, Steady: *steady,
		PhaseTimeout: *phase, Tuning: lanT, Log: logf}
	wo := wanOpts{DCs: *dcs, Servers: *servers, Base: wanBase, Port: *wanPort, Steady: *steady,
		PhaseTimeout: *phase, Tuning: wanT, Log: logf}
	var runLANp, runWANp bool
	switch *mode {
	case "lan":
		runLANp = true
	case "wan":
		runWANp = true
	case "soak":
		lo.Soak, lo.Loss, wo.Soak, wo.Loss = *duration, *loss, *duration, *loss
		switch *pool {
		case "lan":
			runLANp = true
		case "wan":
			runWANp = true
		case "both":
			runLANp, runWANp = true, true
		default:
			return fmt.Errorf("-pool %q: want lan, wan or both", *pool)
		}
	default:
		return fmt.Errorf("-mode %q: want lan, wan or soak", *mode)
	}
	var errs []error
	if runLANp {
		res, err := runLAN(ctx, lo, sink)
		rep.LAN = &res
		if err != nil {
			rep.LANError = err.Error()
			errs = append(errs, fmt.Errorf("LAN: %w", err))
		}
	}
	if runWANp && ctx.Err() == nil {
		res, err := runWAN(ctx, wo, sink)
		rep.WAN = &res
		if err != nil {
			rep.WANError = err.Error()
			errs = append(errs, fmt.Errorf("WAN: %w", err))
		}
	}
	stopSampling()
	rep.WallTimeNS = int64(time.Since(start))
	rep.Machine.LoadAfter = loadavg()
	rep.Machine.MaxRSSMiB = maxRSSMiB()
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printTables(stdout, &rep)
	}
	return errors.Join(errs...)
}

// sampleGoroutines records the highest goroutine count seen every second
// until the returned func is called.
func sampleGoroutines(peak *int) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			*peak = max(*peak, runtime.NumGoroutine())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func printTables(w io.Writer, r *report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }
	m := r.Machine
	fmt.Fprintf(tw, "machine: %d CPUs, load %s → %s, RLIMIT_NOFILE %d/%d, max RSS %.0f MiB, goroutines ≤ %d, %s\n",
		m.CPUs, m.LoadBefore, m.LoadAfter, m.NoFileSoft, m.NoFileHard, m.MaxRSSMiB, m.GoroutineHi, m.Go)
	if r.Config != "" {
		fmt.Fprintf(tw, "config: %s\n", strings.ReplaceAll(r.Config, "\n", "; "))
	} else {
		fmt.Fprintln(tw, "config: the agent's gossip_lan / gossip_wan defaults")
	}
	if l := r.LAN; l != nil {
		if l.SoakSeconds > 0 {
			fmt.Fprintf(tw, "LAN soak: %d members, %.1f%% UDP loss, %.0f s\n", l.Members, 100*l.Loss, l.SoakSeconds)
		} else {
			fmt.Fprintf(tw, "LAN: %d members\n", l.Members)
		}
		row("timers", l.Timers.String())
		row("start all members", ms(l.StartTime))
		row("join phase (all Join calls)", ms(l.JoinPhase))
		row("convergence after the last join", ms(l.ConvergeAfterJoins))
		row("convergence from the first join", ms(l.ConvergeFromFirst))
		row("gossip per member, mean / max", fmt.Sprintf("%.0f / %.0f B/s in+out (%.1f packets/s)",
			l.Steady.BytesPerSecMean, l.Steady.BytesPerSecMax, l.Steady.PacketsPerSecMean))
		row("CPU per member", fmt.Sprintf("%.3f ms/s (process %.0f%% of one core)",
			l.Steady.CPUPerMemberMillis, l.Steady.CPUProcessPercent))
		if l.SoakSeconds > 0 {
			row("packets dropped", fmt.Sprint(l.DroppedPackets))
		} else {
			row("new member alive at all", ms(l.NewMemberKnownAll))
			row(fmt.Sprintf("failure detection, %d killed: first, median", l.Killed), ms(l.DetectFirstMedian))
			row("failure detection: all survivors, median / max", ms(l.DetectAllMedian)+" / "+ms(l.DetectAllMax))
		}
		row("false failures (events)", fmt.Sprintf("%d %v", l.FalseFailures, l.FalseFailureMembers))
		row("suspicions (memberlist.msg.suspect)", fmt.Sprint(l.Suspicions))
		if r.LANError != "" {
			row("ERROR", r.LANError)
		}
	}
	if x := r.WAN; x != nil {
		if x.SoakSeconds > 0 {
			fmt.Fprintf(tw, "WAN soak: %d DCs × %d servers, %.1f%% UDP loss, %.0f s\n", x.DCs, x.ServersPerDC, 100*x.Loss, x.SoakSeconds)
		} else {
			fmt.Fprintf(tw, "WAN: %d DCs × %d servers\n", x.DCs, x.ServersPerDC)
		}
		row("timers", x.Timers.String())
		row("join phase", ms(x.JoinPhase))
		row("every router knows every DC alive, after the last join", ms(x.ConvergeAfterJoins))
		row("WAN gossip per server, mean / max", fmt.Sprintf("%.0f / %.0f B/s in+out (%.1f packets/s)",
			x.Steady.BytesPerSecMean, x.Steady.BytesPerSecMax, x.Steady.PacketsPerSecMean))
		row("CPU per server", fmt.Sprintf("%.3f ms/s", x.Steady.CPUPerMemberMillis))
		if x.SoakSeconds > 0 {
			row("packets dropped", fmt.Sprint(x.DroppedPackets))
			row("router flaps (failed→alive)", fmt.Sprint(x.RouterFlaps))
		} else {
			row("new DC: first server sees it", ms(x.NewDCKnownFirst))
			row("new DC: known by every router", ms(x.NewDCKnownAll))
			row("new DC: all its servers alive in every router", ms(x.NewDCAliveAll))
			row("dead DC: first server sees all its servers failed", ms(x.DeadDCFirst))
			row("dead DC: no alive server in every router", ms(x.DeadDCAll))
		}
		row("false failures (events)", fmt.Sprintf("%d %v", x.FalseFailures, x.FalseFailureMembers))
		row("suspicions (memberlist.msg.suspect)", fmt.Sprint(x.Suspicions))
		if r.WANError != "" {
			row("ERROR", r.WANError)
		}
	}
	_ = tw.Flush()
}

// writeAllocs writes the allocation profile (every allocation since the
// start, and the heap in use at the last GC) to path.
func writeAllocs(path string, stderr io.Writer) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(stderr, "scale: memprofile:", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintln(stderr, "scale: memprofile:", err)
	}
}
