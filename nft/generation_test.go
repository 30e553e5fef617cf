package nft

import (
	"slices"
	"testing"
)

// ApplyKnown against the kernel: while the namespace's generation is the
// one Apply returned, the table is not read (no dump); any commit in the
// namespace, tampering with our table or not, brings back the full read,
// and tampering is repaired.
func TestKernelGenerationSkip(t *testing.T) {
	h, c := newFirewallNS(t)
	want := webTable(t)

	first, err := c.ApplyKnown(want, false, Generation{})
	if err != nil {
		t.Fatalf("first Apply: %v", err)
	}
	if !first.Created || first.Skipped || !first.Generation.Known {
		t.Fatalf("first Apply: %+v, want created, with the generation our batch made", first)
	}
	if g := generation(t, c); first.Generation.ID != g {
		t.Fatalf("first Apply: generation %d, the namespace is at %d", first.Generation.ID, g)
	}

	// Same desired table, generation unchanged: one request, no dump. A
	// fresh Conn (what dcfw opens in every cycle) too.
	for i, conn := range []*Conn{c, dial(t, h)} {
		dumps := conn.Dumps()
		res, err := conn.ApplyKnown(want, false, first.Generation)
		if err != nil {
			t.Fatalf("Apply %d: %v", i+2, err)
		}
		if !res.Skipped || res.Changed() || res.Generation != first.Generation {
			t.Errorf("Apply %d with the known generation: %+v, want skipped", i+2, res)
		}
		if d := conn.Dumps() - dumps; d != 0 {
			t.Errorf("Apply %d with the known generation read the table %d times", i+2, d)
		}
	}

	// Tampering inside the namespace moves the generation: read, repaired.
	h.NFT(t, "flush", "chain", "inet", "dcfw", "input")
	dumps := c.Dumps()
	res, err := c.ApplyKnown(want, false, first.Generation)
	if err != nil {
		t.Fatalf("Apply after tampering: %v", err)
	}
	if res.Skipped || c.Dumps() == dumps {
		t.Fatalf("Apply after tampering did not read the table: %+v", res)
	}
	if !slices.Equal(res.Chains, []string{"input", "output"}) || res.Writes == 0 {
		t.Errorf("Apply after tampering: %+v, want the filter chains rewritten", res)
	}
	if p := diff(resolved(t, c, want), mustRead(t, c)); !p.empty() {
		t.Errorf("not repaired: %v", p.differences)
	}
	if !res.Generation.Known || res.Generation == first.Generation {
		t.Errorf("Apply after tampering: generation %+v, want a new known one", res.Generation)
	}
	repaired := res.Generation

	// A commit that does not touch our table moves the generation too: a
	// read, nothing written, the new generation known.
	h.NFT(t, "add", "table", "ip", "other")
	dumps = c.Dumps()
	res, err = c.ApplyKnown(want, false, repaired)
	if err != nil {
		t.Fatalf("Apply after a foreign commit: %v", err)
	}
	if res.Skipped || c.Dumps() == dumps || res.Changed() {
		t.Errorf("Apply after a foreign commit: %+v, want read, nothing written", res)
	}
	if g := generation(t, c); !res.Generation.Known || res.Generation.ID != g {
		t.Errorf("Apply after a foreign commit: generation %+v, the namespace is at %d", res.Generation, g)
	}

	// And then steady again.
	dumps = c.Dumps()
	if res, err = c.ApplyKnown(want, false, res.Generation); err != nil || !res.Skipped || c.Dumps() != dumps {
		t.Errorf("steady Apply: %+v, %v, %d dumps; want skipped", res, err, c.Dumps()-dumps)
	}
}

// generationAfter only vouches for the generation right after our own
// batch: one commit more than the read, and none else.
func TestKernelGenerationAfter(t *testing.T) {
	h, c := newFirewallNS(t)
	read := generation(t, c)
	mustApply(t, c, webTable(t)) // one commit
	if g := c.generationAfter(read); !g.Known || g.ID != read+1 {
		t.Errorf("after one commit: %+v, want %d", g, read+1)
	}
	h.NFT(t, "add", "table", "ip", "other") // someone else's, right after
	if g := c.generationAfter(read); g.Known {
		t.Errorf("after our commit and a foreign one: %+v, want unknown", g)
	}
}

// Memory models the same: any write or Tamper moves its generation.
func TestMemoryGeneration(t *testing.T) {
	var m Memory
	want := webTable(t)
	res, err := m.ApplyKnown(want, false, Generation{})
	if err != nil || !res.Created || !res.Generation.Known {
		t.Fatalf("first Apply: %+v, %v", res, err)
	}
	reads := m.Reads
	if res, err = m.ApplyKnown(want, false, res.Generation); err != nil || !res.Skipped || m.Reads != reads {
		t.Fatalf("Apply with the known generation: %+v, %v, %d reads; want skipped", res, err, m.Reads-reads)
	}
	known := res.Generation
	m.Tamper(func(live *Table) *Table { live.Chain(InputChain).Rules = nil; return live })
	res, err = m.ApplyKnown(want, false, known)
	if err != nil || res.Skipped || !slices.Equal(res.Chains, []string{InputChain, OutputChain}) {
		t.Fatalf("Apply after Tamper: %+v, %v; want the filter chains rewritten (new conntrack mark)", res, err)
	}
	if res, err = m.ApplyKnown(want, false, res.Generation); err != nil || !res.Skipped {
		t.Errorf("Apply after the repair: %+v, %v; want skipped", res, err)
	}
}
