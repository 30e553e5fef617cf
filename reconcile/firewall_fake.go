package reconcile

import (
	"fmt"
	"sync"

	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
)

// FakeFirewall keeps one table per namespace in memory, as its rendered
// text, and records every write. Tests can tamper with a table (drift),
// make writes fail, and check that a dry run wrote nothing. Like the
// kernel, it keeps a generation counter per namespace that every write
// and every SetTable moves, and answers an Apply whose known generation
// is still current without comparing (Skipped). Safe for concurrent use.
type FakeFirewall struct {
	mu     sync.Mutex
	tables map[netnsutil.ID]string
	gens   map[netnsutil.ID]uint32
	writes []FakeWrite
	fail   map[netnsutil.ID]error
	calls  int
	reads  int
	skips  int
	// noEgress: act like a kernel without the egress hook
	// (nft.Result.EgressUnsupported on every Apply).
	noEgress bool
}

// SetNoEgress makes the firewall act like a kernel without the netdev
// egress hook (Linux < 5.16), as nft.Memory's NoEgress does.
func (f *FakeFirewall) SetNoEgress(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noEgress = on
}

// FakeWrite is one write the fake firewall performed.
type FakeWrite struct {
	NS     netnsutil.ID
	Remove bool
	Table  string // the table written (empty for a removal)
}

var _ Firewall = (*FakeFirewall)(nil)

// NewFakeFirewall returns a firewall with no tables.
func NewFakeFirewall() *FakeFirewall {
	return &FakeFirewall{tables: map[netnsutil.ID]string{}, gens: map[netnsutil.ID]uint32{}, fail: map[netnsutil.ID]error{}}
}

// Table returns the table in namespace id and whether there is one.
func (f *FakeFirewall) Table(id netnsutil.ID) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tables[id]
	return t, ok
}

// SetTable puts a table into a namespace behind dcfw's back ("" deletes
// it), as someone with nft inside the container would.
func (f *FakeFirewall) SetTable(id netnsutil.ID, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gens[id]++
	if text == "" {
		delete(f.tables, id)
		return
	}
	f.tables[id] = text
}

// ResetGeneration sets a namespace's generation counter back to n, as in a
// new namespace that got the same identity (inode) as a dead one.
func (f *FakeFirewall) ResetGeneration(id netnsutil.ID, n uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gens[id] = n
}

// Reads returns how many Apply and Remove calls looked at the table (all
// but those answered by the generation).
func (f *FakeFirewall) Reads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// Skips returns how many Apply calls were answered by the generation alone.
func (f *FakeFirewall) Skips() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.skips
}

// Fail makes writes into namespace id fail with err (nil: succeed again).
// Reads (no change needed, dry runs) still succeed.
func (f *FakeFirewall) Fail(id netnsutil.ID, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.fail, id)
		return
	}
	f.fail[id] = err
}

// Writes returns the writes so far.
func (f *FakeFirewall) Writes() []FakeWrite {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeWrite(nil), f.writes...)
}

// Calls returns how many Apply and Remove calls were made.
func (f *FakeFirewall) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Apply implements Firewall. The whole table counts as one write, as the
// real one is one batch.
func (f *FakeFirewall) Apply(ns Namespace, desired *nft.Table, dryRun bool, known nft.Generation) (nft.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	gen := f.gens[ns.ID()]
	unsupported := f.noEgress && desired.Egress != nil
	if known.Known && known.ID == gen {
		f.skips++
		return nft.Result{DryRun: dryRun, Generation: known, Skipped: true, EgressUnsupported: unsupported}, nil
	}
	f.reads++
	want := desired.String()
	have, ok := f.tables[ns.ID()]
	if ok && have == want {
		return nft.Result{DryRun: dryRun, Generation: nft.Generation{ID: gen, Known: true}, EgressUnsupported: unsupported}, nil
	}
	// Like nft.Result: Writes is what is (or in a dry run would be) sent.
	res := nft.Result{Created: !ok, Chains: []string{nft.InputChain, nft.OutputChain}, Writes: 1, DryRun: dryRun,
		EgressUnsupported: unsupported}
	if ok {
		res.Differences = []string{"table differs from the desired one"}
	} else {
		res.Differences = []string{"table missing"}
	}
	if dryRun {
		return res, nil
	}
	if err := f.fail[ns.ID()]; err != nil {
		// Like nft: a failed write still says what differed.
		return nft.Result{Differences: res.Differences}, fmt.Errorf("fake write: %w", err)
	}
	f.tables[ns.ID()] = want
	f.gens[ns.ID()]++
	f.writes = append(f.writes, FakeWrite{NS: ns.ID(), Table: want})
	res.Generation = nft.Generation{ID: f.gens[ns.ID()], Known: true}
	return res, nil
}

// Remove implements Firewall.
func (f *FakeFirewall) Remove(ns Namespace, dryRun bool) (nft.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.reads++
	if _, ok := f.tables[ns.ID()]; !ok {
		return nft.Result{}, nil
	}
	res := nft.Result{Removed: true, Writes: 1, DryRun: dryRun, Differences: []string{"table present"}}
	if dryRun {
		return res, nil
	}
	if err := f.fail[ns.ID()]; err != nil {
		return nft.Result{Differences: res.Differences}, fmt.Errorf("fake write: %w", err)
	}
	delete(f.tables, ns.ID())
	f.gens[ns.ID()]++
	f.writes = append(f.writes, FakeWrite{NS: ns.ID(), Remove: true})
	return res, nil
}
