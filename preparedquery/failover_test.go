package preparedquery

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

// fakeDC is what one failover datacenter of fakeRemote does: answer after
// delay, with instances or not, or fail.
type fakeDC struct {
	delay time.Duration
	nodes bool
	err   error
}

// fakeRemote counts the calls per datacenter, how many run at once, and
// how many ended by cancellation.
type fakeRemote struct {
	dcs map[string]fakeDC

	mu          sync.Mutex
	calls       map[string]int
	running     int
	maxRunning  int
	cancelled   map[string]bool
	finished    int
	neverReturn bool // wait for ctx only
}

func newFakeRemote(dcs map[string]fakeDC) *fakeRemote {
	return &fakeRemote{dcs: dcs, calls: map[string]int{}, cancelled: map[string]bool{}}
}

func (f *fakeRemote) remote(ctx context.Context, dc string, q *structs.PreparedQuery, _ int) (*structs.PreparedQueryExecuteResponse, error) {
	f.mu.Lock()
	f.calls[dc]++
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	d := f.dcs[dc]
	never := f.neverReturn
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.finished++
		f.mu.Unlock()
	}()
	var wait <-chan time.Time
	if !never {
		t := time.NewTimer(d.delay)
		defer t.Stop()
		wait = t.C
	}
	select {
	case <-wait:
	case <-ctx.Done():
		f.mu.Lock()
		f.cancelled[dc] = true
		f.mu.Unlock()
		return nil, fmt.Errorf("rpc to %s: %w", dc, ctx.Err())
	}
	if d.err != nil {
		return nil, d.err
	}
	out := &structs.PreparedQueryExecuteResponse{Datacenter: "wrong"}
	if d.nodes {
		out.Nodes = structs.CheckServiceNodes{inst("in-"+dc, q.Service.Service, nil, "passing")}
	}
	return out, nil
}

func (f *fakeRemote) snapshot() (calls map[string]int, cancelled map[string]bool, finished, maxRunning int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	calls = make(map[string]int, len(f.calls))
	for k, v := range f.calls {
		calls[k] = v
	}
	cancelled = make(map[string]bool, len(f.cancelled))
	for k, v := range f.cancelled {
		cancelled[k] = v
	}
	return calls, cancelled, f.finished, f.maxRunning
}

func dcName(i int) string { return fmt.Sprintf("dc%02d", i+2) }

// failoverExecutor has no healthy local instance and fails over to order.
func failoverExecutor(f *fakeRemote, order []string) *Executor {
	return &Executor{
		LocalDC: "dc01",
		Local: func(ctx context.Context, s string) (structs.CheckServiceNodes, error) {
			return nil, nil
		},
		Order:  func(int, []string) []string { return order },
		Remote: f.remote,
	}
}

func webQuery(dcs []string) *structs.PreparedQuery {
	return &structs.PreparedQuery{Service: structs.ServiceQuery{Service: "web",
		Failover: structs.QueryFailoverOptions{Datacenters: dcs}}, DNS: structs.QueryDNSOptions{TTL: "5s"}}
}

// TestFailoverTwentyDCsConcurrently fails over through 20 datacenters:
// the first ten in order are slow (120–200 ms) and empty or failing except
// the tenth; two later ones answer faster with instances, the others
// would take 5 s. The answer is the tenth's, after about the slowest of
// the first ten, not their sum; every datacenter is asked exactly once
// and the slow ones behind the answer are cancelled.
func TestFailoverTwentyDCsConcurrently(t *testing.T) {
	ms := time.Millisecond
	needed := []time.Duration{180 * ms, 150 * ms, 200 * ms, 170 * ms, 160 * ms, 190 * ms, 140 * ms, 120 * ms, 180 * ms, 190 * ms}
	dcs := map[string]fakeDC{}
	var order []string
	var sum, slowest time.Duration
	for i := range 20 {
		name := dcName(i)
		order = append(order, name)
		switch {
		case i < len(needed):
			dcs[name] = fakeDC{delay: needed[i], nodes: i == len(needed)-1}
			sum += needed[i]
			slowest = max(slowest, needed[i])
		case i == 12 || i == 17:
			dcs[name] = fakeDC{delay: 10 * ms, nodes: true}
		default:
			dcs[name] = fakeDC{delay: 5 * time.Second, nodes: true}
		}
	}
	dcs[dcName(3)] = fakeDC{delay: needed[3], err: structs.ErrNoDCPath}
	dcs[dcName(6)] = fakeDC{delay: needed[6], err: errors.New("boom")}
	f := newFakeRemote(dcs)
	e := failoverExecutor(f, order)

	begin := time.Now()
	resp, err := e.Execute(context.Background(), webQuery(order), 0)
	took := time.Since(begin)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Datacenter != dcName(9) || resp.Failovers != 10 || len(resp.Nodes) != 1 ||
		resp.Nodes[0].Node.Node != "in-"+dcName(9) || resp.Service != "web" || resp.DNS.TTL != "5s" {
		t.Fatalf("resp %+v", resp)
	}
	// It waited for every datacenter before the answer (the slowest is
	// 200 ms), and did not ask them one after another (1,680 ms).
	t.Logf("took %v (slowest needed %v, sum %v)", took, slowest, sum)
	if took < slowest-5*ms || took > sum/3 {
		t.Fatalf("took %v; slowest needed %v, sum %v", took, slowest, sum)
	}
	testutil.WaitFor(t, 3*time.Second, "every call to end", func() bool {
		_, _, finished, _ := f.snapshot()
		return finished == len(order)
	})
	calls, cancelled, _, _ := f.snapshot()
	for _, dc := range order {
		if calls[dc] != 1 {
			t.Errorf("%s asked %d times", dc, calls[dc])
		}
		if slow := dcs[dc].delay == 5*time.Second; cancelled[dc] != slow {
			t.Errorf("%s cancelled %v, want %v", dc, cancelled[dc], slow)
		}
	}
}

// TestFailoverNoneAnswers: every datacenter empty or failing gives the
// local (empty) answer with all of them counted, and no error.
func TestFailoverNoneAnswers(t *testing.T) {
	dcs := map[string]fakeDC{}
	var order []string
	for i := range 20 {
		d := fakeDC{delay: time.Duration(i%5) * time.Millisecond}
		if i%3 == 0 {
			d.err = &structs.ErrUnknownDC{DC: dcName(i)}
		}
		dcs[dcName(i)] = d
		order = append(order, dcName(i))
	}
	f := newFakeRemote(dcs)
	resp, err := failoverExecutor(f, order).Execute(context.Background(), webQuery(order), 0)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Datacenter != "dc01" || resp.Failovers != 20 || len(resp.Nodes) != 0 {
		t.Fatalf("resp %+v", resp)
	}
	calls, _, _, _ := f.snapshot()
	if len(calls) != 20 {
		t.Fatalf("calls %v", calls)
	}
}

// TestFailoverSkipsLocalAndRepeats: the local datacenter and a repeated
// one in the order are not asked (again).
func TestFailoverSkipsLocalAndRepeats(t *testing.T) {
	f := newFakeRemote(map[string]fakeDC{"dc02": {}, "dc03": {nodes: true}})
	order := []string{"dc02", "dc01", "dc02", "dc03", "dc03"}
	resp, err := failoverExecutor(f, order).Execute(context.Background(), webQuery(order), 0)
	if err != nil || resp.Datacenter != "dc03" || resp.Failovers != 2 {
		t.Fatalf("resp %+v %v", resp, err)
	}
	calls, _, _, _ := f.snapshot()
	if !reflect.DeepEqual(calls, map[string]int{"dc02": 1, "dc03": 1}) {
		t.Fatalf("calls %v", calls)
	}
}

// TestFailoverBoundedConcurrency: with more datacenters than
// MaxFailoverConcurrency, no more than that are asked at once, and every
// one is asked once.
func TestFailoverBoundedConcurrency(t *testing.T) {
	n := MaxFailoverConcurrency + 8
	dcs := map[string]fakeDC{}
	var order []string
	for i := range n {
		dcs[dcName(i)] = fakeDC{delay: 20 * time.Millisecond, nodes: i == n-1}
		order = append(order, dcName(i))
	}
	f := newFakeRemote(dcs)
	resp, err := failoverExecutor(f, order).Execute(context.Background(), webQuery(order), 0)
	if err != nil || resp.Datacenter != dcName(n-1) || resp.Failovers != n {
		t.Fatalf("resp %+v %v", resp, err)
	}
	calls, _, _, maxRunning := f.snapshot()
	if len(calls) != n || maxRunning > MaxFailoverConcurrency {
		t.Fatalf("%d datacenters asked, %d at once", len(calls), maxRunning)
	}
}

// TestFailoverCallerGoesAway: a cancelled caller gets its context's error
// at once and every call is cancelled; a deadline ends the failover with
// the local (empty) answer, as a sequential failover that ran out of time.
func TestFailoverCallerGoesAway(t *testing.T) {
	dcs := map[string]fakeDC{}
	var order []string
	for i := range 20 {
		dcs[dcName(i)] = fakeDC{nodes: true}
		order = append(order, dcName(i))
	}
	f := newFakeRemote(dcs)
	f.neverReturn = true
	e := failoverExecutor(f, order)

	ctx, cancel := context.WithCancel(context.Background())
	stop := time.AfterFunc(50*time.Millisecond, cancel)
	defer stop.Stop()
	begin := time.Now()
	_, err := e.Execute(ctx, webQuery(order), 0)
	if !errors.Is(err, context.Canceled) || time.Since(begin) > 2*time.Second {
		t.Fatalf("cancelled: %v after %v", err, time.Since(begin))
	}
	testutil.WaitFor(t, 3*time.Second, "every call to end", func() bool {
		_, _, finished, _ := f.snapshot()
		return finished == len(order)
	})
	if _, cancelled, _, _ := f.snapshot(); len(cancelled) != len(order) {
		t.Fatalf("cancelled %v", cancelled)
	}

	ctx, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	resp, err := e.Execute(ctx, webQuery(order), 0)
	if err != nil || resp.Datacenter != "dc01" || len(resp.Nodes) != 0 {
		t.Fatalf("deadline: %+v %v", resp, err)
	}
}

// manualDeadline is a context whose deadline the test makes pass.
type manualDeadline struct {
	context.Context
	done chan struct{}
}

func (m *manualDeadline) Done() <-chan struct{} { return m.done }

func (m *manualDeadline) Err() error {
	select {
	case <-m.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// TestFailoverAnswerInAtDeadlineKept: the first datacenter in order has
// answered with instances when the deadline passes, before Execute read
// the answer. Both are ready when it waits; the answer must win every
// time (select alone picks one of them at random).
func TestFailoverAnswerInAtDeadlineKept(t *testing.T) {
	for run := range 40 {
		ctx := &manualDeadline{Context: context.Background(), done: make(chan struct{})}
		e := &Executor{
			LocalDC: "dc01",
			Local: func(context.Context, string) (structs.CheckServiceNodes, error) {
				return nil, nil
			},
			Order: func(int, []string) []string { return []string{"dc02"} },
			Remote: func(_ context.Context, dc string, q *structs.PreparedQuery, _ int) (*structs.PreparedQueryExecuteResponse, error) {
				return &structs.PreparedQueryExecuteResponse{
					Nodes: structs.CheckServiceNodes{inst("in-"+dc, q.Service.Service, nil, "passing")}}, nil
			},
		}
		e.beforeWait = func(pending func() int) {
			testutil.WaitFor(t, 5*time.Second, "the answer in", func() bool { return pending() == 1 })
			close(ctx.done)
		}
		resp, err := e.Execute(ctx, webQuery([]string{"dc02"}), 0)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if len(resp.Nodes) != 1 || resp.Datacenter != "dc02" || resp.Failovers != 1 {
			t.Fatalf("run %d: the answer in at the deadline was thrown away: %+v", run, resp)
		}
	}
}
