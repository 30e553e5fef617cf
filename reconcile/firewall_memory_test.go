package reconcile

import (
	"fmt"
	"sync"

	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
)

// memoryFirewall is the Firewall of the controller's tests: one nft.Memory
// per namespace, which is checked against the kernel (nft's
// TestMemoryMatchesKernel), so the tests see real chains, writes,
// differences and generations. Safe for concurrent use.
type memoryFirewall struct {
	mu     sync.Mutex
	tables map[netnsutil.ID]*nft.Memory
	fail   map[netnsutil.ID]error
	writes []memoryWrite
	// noEgress: every namespace, present and future, acts like a kernel
	// without the egress hook.
	noEgress bool
	calls    int
	reads    int
	skips    int
}

// memoryWrite is one batch written into a namespace.
type memoryWrite struct {
	NS     netnsutil.ID
	Remove bool
	Chains []string // the chains written (none for a removal)
}

var _ Firewall = (*memoryFirewall)(nil)

func newMemoryFirewall() *memoryFirewall {
	return &memoryFirewall{tables: map[netnsutil.ID]*nft.Memory{}, fail: map[netnsutil.ID]error{}}
}

// memory returns namespace id's ruleset, made empty on first use. The
// caller holds f.mu.
func (f *memoryFirewall) memory(id netnsutil.ID) *nft.Memory {
	m := f.tables[id]
	if m == nil {
		m = &nft.Memory{NoEgress: f.noEgress}
		f.tables[id] = m
	}
	return m
}

// Apply implements Firewall on the namespace's nft.Memory.
func (f *memoryFirewall) Apply(ns Namespace, desired *nft.Table, dryRun bool, known nft.Generation) (nft.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.memory(ns.ID())
	m.Err = f.fail[ns.ID()]
	defer func() { m.Err = nil }()
	f.calls++
	res, err := m.ApplyKnown(desired, dryRun, known)
	if res.Skipped {
		f.skips++
	} else {
		f.reads++
	}
	if err == nil && !dryRun && res.Changed() {
		f.writes = append(f.writes, memoryWrite{NS: ns.ID(), Chains: res.Chains})
	}
	return res, err
}

// Remove implements Firewall on the namespace's nft.Memory.
func (f *memoryFirewall) Remove(ns Namespace, dryRun bool) (nft.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.memory(ns.ID())
	m.Err = f.fail[ns.ID()]
	defer func() { m.Err = nil }()
	f.calls++
	f.reads++
	res, err := m.Remove(dryRun)
	if err == nil && !dryRun && res.Changed() {
		f.writes = append(f.writes, memoryWrite{NS: ns.ID(), Remove: true})
	}
	return res, err
}

// Table returns the table in namespace id as Compile renders it (see
// compiledForm), and whether there is one.
func (f *memoryFirewall) Table(id netnsutil.ID) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	live, err := f.memory(id).Read()
	if err != nil || live == nil || live.Missing() {
		return "", false
	}
	return compiledForm(live).String(), true
}

// compiledForm is a live table without what Apply adds to a compiled one:
// the secret values in its rules (conntrack mark, raw mark and priority,
// drawn per namespace) and the egress chain of each interface. Tests
// compare it with what labels compile to.
func compiledForm(live *nft.Table) *nft.Table {
	out := &nft.Table{Flags: live.Flags, Sets: live.Sets}
	for _, c := range live.Chains {
		cc := *c
		cc.Rules = make([]nft.Rule, len(c.Rules))
		for i, r := range c.Rules {
			r.CtMark, r.Mark, r.Priority, r.Handle = 0, 0, 0, 0
			cc.Rules[i] = r
		}
		out.Chains = append(out.Chains, &cc)
	}
	if live.Egress != nil {
		out.Egress = &nft.Table{}
	}
	return out
}

// Tamper changes the table in namespace id behind dcfw's back (change may
// return nil: the table deleted), as someone with nft inside the container
// would. Like every change, it moves the namespace's generation.
func (f *memoryFirewall) Tamper(id netnsutil.ID, change func(live *nft.Table) *nft.Table) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.memory(id).Tamper(change)
}

// Delete removes the tables in namespace id behind dcfw's back.
func (f *memoryFirewall) Delete(id netnsutil.ID) {
	f.Tamper(id, func(*nft.Table) *nft.Table { return nil })
}

// Replace makes namespace id a new namespace without tables whose
// generation is gen, as when the kernel gives a new namespace the identity
// (inode) of a dead one and its ruleset has changed gen times.
func (f *memoryFirewall) Replace(id netnsutil.ID, gen uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := &nft.Memory{NoEgress: f.noEgress}
	for range gen {
		m.Tamper(func(*nft.Table) *nft.Table { return nil })
	}
	f.tables[id] = m
}

// SetNoEgress makes every namespace act like a kernel without the netdev
// egress hook (Linux < 5.16).
func (f *memoryFirewall) SetNoEgress(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noEgress = on
	for _, m := range f.tables {
		m.NoEgress = on
	}
}

// Fail makes writes into namespace id fail with err (nil: succeed again),
// as a batch the kernel rejects. Reads (no change needed, dry runs) still
// succeed.
func (f *memoryFirewall) Fail(id netnsutil.ID, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.fail, id)
		return
	}
	f.fail[id] = fmt.Errorf("memory write: %w", err)
}

// Writes returns the batches written so far.
func (f *memoryFirewall) Writes() []memoryWrite {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]memoryWrite(nil), f.writes...)
}

// Calls returns how many Apply and Remove calls were made.
func (f *memoryFirewall) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Reads returns how many Apply and Remove calls read the table (all but
// those answered by the generation alone).
func (f *memoryFirewall) Reads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// Skips returns how many Apply calls were answered by the generation alone.
func (f *memoryFirewall) Skips() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.skips
}

// emptyTable is a Tamper that leaves dcfw's table without chains.
func emptyTable(*nft.Table) *nft.Table { return &nft.Table{} }

// ownedTable is a Tamper that puts an empty table with flags owner in
// dcfw's place (NFT_TABLE_F_OWNER: only its creator's socket may change
// it), as a container with NET_ADMIN could.
func ownedTable(*nft.Table) *nft.Table { return &nft.Table{Flags: 2} }
