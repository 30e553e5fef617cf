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
	if live.String() != want.String() {
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

	// Drift: a policy changed by someone else; repaired without rewriting rules.
	m.Tamper(func(l *Table) *Table { l.Chains[0].Policy = PolicyAccept; return l })
	res, _ = m.Apply(want, false)
	if !reflect.DeepEqual(res.Chains, []string{"input"}) || res.Writes != 1 {
		t.Errorf("policy repair: %+v", res)
	}
	if !slices.Equal(hs("input"), in) || !slices.Equal(hs("output"), out) {
		t.Errorf("policy repair rewrote rules")
	}

	// A rule change in output leaves input alone.
	p := policyCases[1].policy
	p.Output.Rules = slices.Clone(p.Output.Rules)
	p.Output.Rules[0].Comment = "changed"
	res, _ = m.Apply(mustCompile(t, p), false)
	if !reflect.DeepEqual(res.Chains, []string{"output"}) || !slices.Equal(hs("input"), in) || slices.Equal(hs("output"), out) {
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
	m.Tamper(func(*Table) *Table { return want })
	if res, _ := m.Apply(want, false); res.Changed() {
		t.Errorf("tampered-in table equal to desired: %+v", res)
	}
}

// TestMemoryMatchesKernel runs the same sequence of applies (every test
// policy, then back to the first) on Memory and on a real namespace: the
// Results must be the same, so reconcile tests on Memory mean something.
func TestMemoryMatchesKernel(t *testing.T) {
	_, c := newFirewallNS(t)
	var m Memory
	seq := append(slices.Clone(policyCases), policyCases[0], policyCases[0])
	for _, pc := range seq {
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
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Memory %+v, kernel %+v", pc.name, got, want)
		}
	}
	res, _ := m.Remove(false)
	if want, err := c.Remove(false); err != nil || !reflect.DeepEqual(res, want) {
		t.Errorf("Remove: Memory %+v, kernel %+v (%v)", res, want, err)
	}
}
