package nft

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

func TestMemory(t *testing.T) {
	var m Memory
	want := webTable(t)
	res, err := m.Apply(want, false)
	if err != nil || !res.Created || m.Batches != 1 {
		t.Fatalf("first Apply: %+v, %v", res, err)
	}
	live, _ := m.Read()
	if live.Secret.Mark == 0 || live.Secret.Priority == 0 || live.Secret.Conn == 0 || live.String() != withSecret(want, live.Secret, dockerInterfaces).String() {
		t.Fatalf("Read:\n%s", live)
	}
	hs := func(name string) []uint64 {
		live, _ := m.Read()
		var out []uint64
		for _, r := range live.Chain(name).Rules {
			out = append(out, r.Handle)
		}
		return out
	}
	in, out := hs("input"), hs("output")
	if res, _ := m.Apply(want, false); res.Changed() || m.Batches != 1 {
		t.Errorf("second Apply: %+v", res)
	}

	// Drift: a policy changed by someone else. Repaired with a new
	// conntrack mark, so both filter chains are rewritten; the raw-frame
	// secret and the stamp chains stay.
	secret := live.Secret
	stamp := hs(StampChain)
	m.Tamper(func(l *Table) *Table { l.Chains[0].Policy = PolicyAccept; return l })
	res, _ = m.Apply(want, false)
	if !reflect.DeepEqual(res.Chains, []string{"input", "output"}) {
		t.Errorf("policy repair: %+v", res)
	}
	live, _ = m.Read()
	if slices.Equal(hs("input"), in) || slices.Equal(hs("output"), out) || !slices.Equal(hs(StampChain), stamp) ||
		live.Secret.Conn == secret.Conn || live.Secret.Mark != secret.Mark || live.Secret.Priority != secret.Priority {
		t.Errorf("policy repair: secret %+v, was %+v", live.Secret, secret)
	}

	// Interfaces: one egress chain each, added and removed as they come
	// and go; the rest untouched. Docker's names have theirs in advance.
	m.Interfaces = []string{"eth1", "vethb", "eth0"}
	res, _ = m.Apply(want, false)
	if !reflect.DeepEqual(res.Chains, []string{"egress_vethb"}) || res.Writes != 3 {
		t.Errorf("interfaces: %+v", res)
	}
	m.Interfaces = []string{"eth1"}
	res, _ = m.Apply(want, false)
	if !reflect.DeepEqual(res.Chains, []string{"egress_vethb"}) || res.Writes != 2 {
		t.Errorf("interface gone: %+v", res)
	}
	if live, _ := m.Read(); len(live.Egress.Chains) != len(dockerInterfaces) || live.Egress.Chains[1].Device != "eth1" || live.Egress.Chains[1].Rules[0].Mark != secret.Mark {
		t.Errorf("egress:\n%s", live)
	}
	// A kernel that hooks only existing devices gets chains for those.
	preHook := Memory{Interfaces: []string{"eth0"}, NoAbsentHooks: true}
	if res, _ := preHook.Apply(want, false); !reflect.DeepEqual(res.Chains, []string{"egress_eth0", "input", "output", "stamp", "unstamp"}) {
		t.Errorf("kernel before 6.16: %+v", res)
	}

	// A rule change in output rewrites both filter chains, nothing else.
	in, out = hs("input"), hs("output")
	p := policyCases[1].policy
	p.Output.Rules = slices.Clone(p.Output.Rules)
	p.Output.Rules[0].Comment = "changed"
	res, _ = m.Apply(mustCompile(t, p), false)
	if !reflect.DeepEqual(res.Chains, []string{"input", "output"}) || slices.Equal(hs("input"), in) || slices.Equal(hs("output"), out) {
		t.Errorf("output change: %+v", res)
	}

	// A failing write writes nothing.
	boom := errors.New("boom")
	m.Err = boom
	if _, err := m.Apply(want, false); !errors.Is(err, boom) {
		t.Errorf("Err not returned: %v", err)
	}
	if res, _ := m.Apply(want, true); !res.Changed() {
		t.Errorf("failed write changed the table")
	}
	// Dry runs write nothing.
	before := m.Batches
	if res, _ := m.Remove(true); !res.Removed || m.Batches != before {
		t.Errorf("dry-run Remove: %+v", res)
	}
	if res, _ := m.Remove(false); !res.Removed {
		t.Errorf("Remove: %+v", res)
	}
	if live, _ := m.Read(); live != nil {
		t.Errorf("table after Remove")
	}
	if res, _ := m.Remove(false); res.Changed() {
		t.Errorf("second Remove: %+v", res)
	}
	// A table put back as it was (dcfw restarted after someone removed
	// and restored it): its secret is taken, nothing written.
	m.Interfaces = nil
	m.Tamper(func(*Table) *Table { return live })
	if res, _ := m.Apply(want, false); res.Changed() {
		t.Errorf("tampered-in table equal to desired: %+v", res)
	}

	// A kernel without the egress hook: no netdev table, and Apply says so.
	var old Memory
	old.NoEgress, old.Interfaces = true, []string{"eth0"}
	res, _ = old.Apply(want, false)
	if live, _ := old.Read(); !res.EgressUnsupported || live.Egress != nil || slices.Contains(res.Chains, "egress_eth0") {
		t.Errorf("no egress hook: %+v\n%s", res, live)
	}
}

// TestMemoryMatchesKernel runs the same sequence of applies (every test
// policy, then back to the first) on Memory and on a real namespace: the
// Results must be the same, so reconcile tests on Memory mean something.
func TestMemoryMatchesKernel(t *testing.T) {
	h, c := newFirewallNS(t)
	var m Memory
	seq := append(slices.Clone(policyCases), policyCases[0], policyCases[0])
	for i, pc := range seq {
		if i == 2 { // an interface appears (network connect): its egress chain
			addVeth(t, h, "eth0", "eth1")
			m.Interfaces = []string{"eth1", "eth0"}
		}
		tbl, err := pc.table()
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Apply(tbl, false)
		if err != nil {
			t.Fatal(err)
		}
		want := mustApply(t, c, tbl)
		// Generation IDs count different histories (the kernel's counts
		// every commit in the namespace since it was made); whether one is
		// known must agree.
		if got.Generation.Known != want.Generation.Known {
			t.Errorf("%s: generation known: Memory %v, kernel %v", pc.name, got.Generation.Known, want.Generation.Known)
		}
		got.Generation, want.Generation = Generation{}, Generation{}
		for _, r := range []*Result{&got, &want} {
			for j := range r.Differences {
				r.Differences[j] = withoutSecrets(r.Differences[j])
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Memory %+v, kernel %+v", pc.name, got, want)
		}
	}
	res, _ := m.Remove(false)
	if want, err := c.Remove(false); err != nil || !reflect.DeepEqual(res, want) {
		t.Errorf("Remove: Memory %+v, kernel %+v (%v)", res, want, err)
	}
}
