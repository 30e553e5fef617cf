package bench

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
)

// These tests keep the benchmark's plumbing honest on the real kernel,
// quickly (a few namespaces, a few cycles), in the normal test run. They
// check what the figures rely on, never how fast anything is.

func newFleet(t *testing.T, n int) *Fleet {
	t.Helper()
	testenv.RequireNetAdmin(t)
	f, err := NewFleet(n, SteadyLabels())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("close fleet: %v", err)
		}
	})
	return f
}

// liveTable reads the dcfw table in the namespace of pid.
func liveTable(t *testing.T, pid int) *nft.Table {
	t.Helper()
	ns, err := netnsutil.OpenPID("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	c, err := nft.Dial(ns.Fd())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tbl, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// createWrites is what creating both tables costs in netlink messages: each
// table, each chain, each rule. The egress chains are those the live table
// has (one per interface, which is the kernel's and the namespace's
// business), each with the rules of nft.EgressChain, which checkEgress
// checks.
func createWrites(tbl, live *nft.Table) int {
	n := 1 + len(tbl.Chains) + RuleCount(tbl)
	if live.Egress != nil {
		n++
		for _, c := range live.Egress.Chains {
			n += 1 + len(nft.EgressChain(c.Device).Rules)
		}
	}
	return n
}

// checkEgress checks the live netdev table: present (this kernel has the
// egress hook), and every chain as nft.EgressChain makes it, rule count
// included.
func checkEgress(t *testing.T, pid int, live *nft.Table) {
	t.Helper()
	if live.Egress == nil {
		t.Errorf("namespace of %d: no table netdev dcfw", pid)
		return
	}
	for _, c := range live.Egress.Chains {
		if want := nft.EgressChain(c.Device); c.Name != want.Name || len(c.Rules) != len(want.Rules) {
			t.Errorf("namespace of %d: egress chain %s on %q with %d rules, want %s with %d", pid, c.Name, c.Device, len(c.Rules), want.Name, len(want.Rules))
		}
	}
}

func TestSleepers(t *testing.T) {
	testenv.RequireNetAdmin(t)
	s, err := StartSleepers(3)
	if err != nil {
		t.Fatal(err)
	}
	pids := s.PIDs()
	host, err := netnsutil.HostID("/proc")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netnsutil.ID]bool{}
	for _, pid := range pids {
		id, err := netnsutil.StatPath(netnsutil.PIDPath("/proc", pid))
		if err != nil {
			t.Fatal(err)
		}
		if id == host || seen[id] {
			t.Errorf("sleeper %d: namespace %v is the host's or another sleeper's", pid, id)
		}
		seen[id] = true
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("sleeper %d still exists after Close (kill 0: %v)", pid, err)
		}
	}
}

// TestSteadyMinimalDiff: the first cycle creates both tables in every
// namespace, the measured ones write nothing, are answered by the
// generation alone and reconcile every namespace, and Counting counts.
func TestSteadyMinimalDiff(t *testing.T) {
	const n = 3
	f := newFleet(t, n)
	r, err := f.Steady(context.Background(), SteadyOptions{Strategy: MinimalDiff, Warmup: 1, Cycles: 2})
	if err != nil {
		t.Fatal(err)
	}
	tbl, _ := Table(SteadyLabels(), ContainerID(0))
	if r.RulesPerTable != RuleCount(tbl) {
		t.Errorf("RulesPerTable %d, want %d", r.RulesPerTable, RuleCount(tbl))
	}
	writes := 0
	for _, pid := range f.PIDs() {
		live := liveTable(t, pid)
		if live == nil || RuleCount(live) != RuleCount(tbl) {
			t.Fatalf("namespace of %d: table %v, want %d rules", pid, live, RuleCount(tbl))
		}
		checkEgress(t, pid, live)
		writes += createWrites(tbl, live)
	}
	if c := r.First.Counts; c.Applies != n || c.Created != n || c.Written != n || c.Writes != writes {
		t.Errorf("first cycle: %+v, want %d applies creating %d tables with %d writes", c, n, n, writes)
	}
	if len(r.Cycles) != 2 {
		t.Fatalf("%d measured cycles, want 2", len(r.Cycles))
	}
	for i, c := range r.Cycles {
		if c.Counts.Writes != 0 || c.Counts.Written != 0 || c.Counts.Applies != n || c.Stats.Managed != n {
			t.Errorf("steady cycle %d: %+v, stats %+v; want %d applies and no writes", i+1, c.Counts, c.Stats, n)
		}
		// Nothing was committed in any namespace since the first cycle's
		// writes: every apply is answered by the generation alone.
		if c.Counts.Skipped != n {
			t.Errorf("steady cycle %d: %d applies skipped by the generation, want %d", i+1, c.Counts.Skipped, n)
		}
		if c.Wall <= 0 || c.CPU < 0 || c.Mallocs == 0 {
			t.Errorf("steady cycle %d: nothing measured: %+v", i+1, c)
		}
	}
	if r.Memory.RSS <= 0 || r.Memory.HWM < r.Memory.RSS {
		t.Errorf("memory %+v", r.Memory)
	}
}

// TestSteadyNotSteady: a measured cycle that has to write (here: a table
// deleted before it) makes the minimal-diff run an error, not a figure.
func TestSteadyNotSteady(t *testing.T) {
	f := newFleet(t, 2)
	victim := f.PIDs()[1]
	_, err := f.Steady(context.Background(), SteadyOptions{
		Strategy: MinimalDiff, Warmup: 1, Cycles: 1,
		Around: func() func() {
			ns, err := netnsutil.OpenPID("/proc", victim)
			if err != nil {
				t.Error(err)
				return func() {}
			}
			defer ns.Close()
			c, err := nft.Dial(ns.Fd())
			if err != nil {
				t.Error(err)
				return func() {}
			}
			defer c.Close()
			if _, err := c.Remove(false); err != nil {
				t.Error(err)
			}
			return func() {}
		},
	})
	if err == nil || !strings.Contains(err.Error(), "although nothing changed") {
		t.Fatalf("err = %v, want a complaint about writes in a steady cycle", err)
	}
}

// TestSteadyFullRewrite: every cycle deletes and rewrites both tables in
// every namespace, the controller is told nothing changed, and the tables
// end up as desired.
func TestSteadyFullRewrite(t *testing.T) {
	const n = 2
	f := newFleet(t, n)
	tbl, _ := Table(SteadyLabels(), ContainerID(0))
	r, err := f.Steady(context.Background(), SteadyOptions{Strategy: Rewrite, Warmup: 1, Cycles: 2})
	if err != nil {
		t.Fatal(err)
	}
	writes := 0
	for _, pid := range f.PIDs() {
		live := liveTable(t, pid)
		if live == nil || RuleCount(live) != RuleCount(tbl) {
			t.Fatalf("namespace of %d after the rewrites: table %v, want %d rules", pid, live, RuleCount(tbl))
		}
		checkEgress(t, pid, live)
		writes += createWrites(tbl, live) + 2 // as created, plus deleting both tables
	}
	for i, c := range r.Cycles {
		if c.Counts.Written != n || c.Counts.Created != n || c.Counts.Writes != writes {
			t.Errorf("cycle %d: %+v, want %d tables rewritten with %d writes", i+1, c.Counts, n, writes)
		}
		if c.Stats.Changed != 0 {
			t.Errorf("cycle %d: the controller saw %d changes; Quiet should hide them", i+1, c.Stats.Changed)
		}
	}
	// The floors write nothing and still go through every namespace.
	for _, s := range []Strategy{GenerationFloor, ControllerFloor} {
		r, err := f.Steady(context.Background(), SteadyOptions{Strategy: s, Cycles: 1})
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if c := r.Cycles[0].Counts; c.Applies != n || c.Writes != 0 {
			t.Errorf("%s: %+v", s, c)
		}
	}
}

// TestGeneration: the generation ID moves with every committed change in
// the namespace, and only then (what GenerationOnly's figure assumes).
func TestGeneration(t *testing.T) {
	testenv.RequireNetAdmin(t)
	s, err := StartSleepers(1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns, err := netnsutil.OpenPID("/proc", s.PIDs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	g1, err := Generation(ns.Fd())
	if err != nil {
		t.Fatal(err)
	}
	g2, err := Generation(ns.Fd())
	if err != nil {
		t.Fatal(err)
	}
	tbl, _ := Table(SteadyLabels(), ContainerID(0))
	c, err := nft.Dial(ns.Fd())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Apply(tbl, false); err != nil {
		t.Fatal(err)
	}
	g3, err := Generation(ns.Fd())
	if err != nil {
		t.Fatal(err)
	}
	if g1 != g2 || g3 == g2 {
		t.Errorf("generations %d, %d, then %d after a write: want equal, then different", g1, g2, g3)
	}
}

// TestApplySizes: the apply benchmark's first apply creates both tables,
// its one-rule change rewrites the two filter chains (a new conntrack mark)
// and nothing else, and an unchanged table costs no write.
func TestApplySizes(t *testing.T) {
	testenv.RequireNetAdmin(t)
	base, err := sizedBase()
	if err != nil {
		t.Fatal(err)
	}
	// Both parities: an odd remainder logs the variant rule.
	sizes := []int{base + 2, 100}
	cs, err := ApplySizes(sizes, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != len(sizes) {
		t.Fatalf("%d sizes measured, want %d", len(cs), len(sizes))
	}
	for i, c := range cs {
		if c.Rules != sizes[i] {
			t.Errorf("size %d: table of %d rules", sizes[i], c.Rules)
		}
		la, _ := SizedLabels(c.Rules, 0)
		a, _ := Table(la, ContainerID(0))
		lb, _ := SizedLabels(c.Rules, 1)
		b, _ := Table(lb, ContainerID(0))

		// Both tables created: each table, chain and rule, the egress
		// chains (one per interface) as nft.EgressChain makes them.
		first := c.First.Result
		egress := 0
		var chains []string
		for _, ch := range a.Chains {
			chains = append(chains, ch.Name)
		}
		for _, name := range first.Chains {
			if dev, ok := strings.CutPrefix(name, nft.EgressChainPrefix); ok {
				egress += 1 + len(nft.EgressChain(dev).Rules)
				chains = append(chains, name)
			}
		}
		slices.Sort(chains)
		if want := 2 + len(a.Chains) + RuleCount(a) + egress; !first.Created || first.EgressUnsupported || first.Writes != want || !slices.Equal(first.Chains, chains) {
			t.Errorf("%d rules: first apply %+v, want both tables created, chains %v, %d writes", c.Rules, first, chains, want)
		}

		// Flush and rules of each filter chain (of b, the last change
		// measured; a's have as many).
		in, out := b.RuleCount()
		if ain, aout := a.RuleCount(); ain != in || aout != out {
			t.Errorf("%d rules: the variants' filter chains have %d/%d and %d/%d rules", c.Rules, ain, aout, in, out)
		}
		if c.Change.Result.Writes != 1+in+1+out {
			t.Errorf("%d rules: one-rule change wrote %d messages, want %d (both filter chains flushed, %d and %d rules written)",
				c.Rules, c.Change.Result.Writes, 1+in+1+out, in, out)
		}
		if !c.FilterChains() {
			t.Errorf("%d rules: one-rule change %+v, want the input and output chains rewritten and nothing else", c.Rules, c.Change.Result)
		}
		if r := c.NoChange.Result; r.Writes != 0 || r.Chains != nil || r.Skipped {
			t.Errorf("%d rules: no change %+v, want a full read and no write", c.Rules, r)
		}
		for _, op := range []Op{c.First, c.Change, c.NoChange} {
			if len(op.Walls) != 3 || slices.Contains(op.Walls, 0) {
				t.Errorf("%d rules: walls %v", c.Rules, op.Walls)
			}
		}
	}
}
