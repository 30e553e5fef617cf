package nft

import (
	"slices"
	"sync"
)

// Memory is an in-memory stand-in for one namespace's ruleset, for tests
// of code that uses Conn (reconcile) without root. Apply, Remove and Read
// behave like Conn's: the same comparison, the same Result, the same
// minimal writes (chains that are not written keep their rule handles).
// Tamper changes the live table behind Apply's back, like someone running
// nft in the namespace. Like the kernel's generation ID, a counter moves
// on every write and every Tamper (ApplyKnown). It does not model the
// kernel's own checks: a table the kernel would reject is accepted.
type Memory struct {
	mu         sync.Mutex
	live       *Table
	nextHandle uint64
	// Err, when set, is returned by the next Apply or Remove that would
	// write, which then writes nothing (like a rejected batch).
	Err error
	// Batches counts the writes (batches) made so far.
	Batches int
	// Reads counts the reads of the table made so far (Apply and Remove
	// that were not skipped by ApplyKnown).
	Reads int
	gen   uint32 // committed changes so far (the generation ID)

	// Interfaces are the namespace's interfaces besides lo, each of which
	// gets an egress chain (see raw.go). Set them before Apply; a change
	// is like a network connect or disconnect.
	Interfaces []string
	// NoAbsentHooks models a kernel before Linux 6.16, which hooks only
	// existing devices: Docker's interface names get no chain in advance.
	NoAbsentHooks bool
	// NoEgress makes Memory act like a kernel without the egress hook:
	// Apply leaves the raw-frame filter out and says so.
	NoEgress bool
}

// Apply makes the in-memory table equal to desired (see Conn.Apply).
func (m *Memory) Apply(desired *Table, dryRun bool) (Result, error) {
	return m.ApplyKnown(desired, dryRun, Generation{})
}

// ApplyKnown is Apply that skips the read when the generation is still
// known (see Conn.ApplyKnown).
func (m *Memory) ApplyKnown(desired *Table, dryRun bool, known Generation) (Result, error) {
	if err := checkDesired(desired); err != nil {
		return Result{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var devs []string
	if desired.Egress != nil && !m.NoEgress {
		devs = withDockerInterfaces(m.Interfaces, m.NoAbsentHooks)
	}
	unsupported := desired.Egress != nil && m.NoEgress
	if known.Known && known.ID == m.gen && known.links == linkKey(devs) {
		return Result{DryRun: dryRun, Generation: known, Skipped: true, EgressUnsupported: unsupported}, nil
	}
	m.Reads++
	if m.live != nil {
		m.live.Secret = liveSecret(m.live)
	}
	want, p := planApply(desired, m.live, devs, m.NoEgress)
	res := newResult(&p, dryRun)
	res.EgressUnsupported = unsupported
	if p.empty() {
		res.Generation = Generation{ID: m.gen, Known: true, links: linkKey(devs)}
		return res, nil
	}
	if dryRun {
		return res, nil
	}
	if m.Err != nil {
		err := m.Err
		m.Err = nil
		return Result{Differences: p.differences}, err
	}
	var liveInet, liveEgress *Table
	if m.live != nil {
		liveEgress = m.live.Egress
		if !m.live.missing {
			liveInet = m.live
		}
	}
	next := m.applyTable(want, liveInet, &p)
	if want.Egress != nil {
		ep := p.egress
		if ep == nil {
			ep = &plan{}
		}
		next.Egress = m.applyTable(want.Egress, liveEgress, ep)
	}
	next.Secret = want.Secret
	m.live = next
	m.Batches++
	m.gen++
	res.Generation = Generation{ID: m.gen, Known: true, links: linkKey(devs)}
	return res, nil
}

// applyTable returns the table p makes of live: want's chains, the ones p
// does not write as they were (with their handles).
func (m *Memory) applyTable(want, live *Table, p *plan) *Table {
	written := map[string]bool{}
	for _, c := range append(append(slices.Clone(p.addChains), p.rewrite...), p.delChains...) {
		written[c.Name] = true
	}
	if p.createTable {
		live = nil
	}
	next := &Table{Sets: copySets(want.Sets)}
	for _, s := range next.Sets {
		s.For = "" // the kernel does not keep it either
	}
	for _, d := range want.Chains {
		l := live.Chain(d.Name)
		if l == nil || written[d.Name] {
			c := *copyTable(&Table{Chains: []*Chain{d}}).Chains[0]
			for i := range c.Rules {
				m.nextHandle++
				c.Rules[i].Handle = m.nextHandle
			}
			next.Chains = append(next.Chains, &c)
			continue
		}
		c := *l
		c.Policy = d.Policy
		next.Chains = append(next.Chains, &c)
	}
	return next
}

// Remove deletes the in-memory table (see Conn.Remove).
func (m *Memory) Remove(dryRun bool) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Reads++
	if m.live == nil {
		return Result{DryRun: dryRun}, nil
	}
	res := Result{Removed: true, DryRun: dryRun}
	if !m.live.missing {
		res.Writes++
		res.Differences = append(res.Differences, "table present")
	}
	if m.live.Egress != nil {
		res.Writes++
		res.Differences = append(res.Differences, "netdev table present")
	}
	if dryRun {
		return res, nil
	}
	if m.Err != nil {
		err := m.Err
		m.Err = nil
		return Result{}, err
	}
	m.live = nil
	m.Batches++
	m.gen++
	return res, nil
}

// Read returns a copy of the in-memory table, or nil.
func (m *Memory) Read() (*Table, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return copyTable(m.live), nil
}

// Tamper lets f change the live table (f may return nil: table deleted),
// as drift made by someone else.
func (m *Memory) Tamper(f func(live *Table) *Table) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live = copyTable(f(copyTable(m.live)))
	if m.live != nil {
		m.live.Secret = liveSecret(m.live)
	}
	m.gen++
}

// copyTable deep-copies t.
func copyTable(t *Table) *Table {
	if t == nil {
		return nil
	}
	out := &Table{Flags: t.Flags, Secret: t.Secret, missing: t.missing, Egress: copyTable(t.Egress), Sets: copySets(t.Sets)}
	for _, c := range t.Chains {
		cc := *c
		cc.Rules = slices.Clone(c.Rules)
		for i := range cc.Rules {
			r := &cc.Rules[i]
			if r.Limit != nil {
				l := *r.Limit
				r.Limit = &l
			}
			if r.Log != nil {
				l := *r.Log
				r.Log = &l
			}
		}
		out.Chains = append(out.Chains, &cc)
	}
	return out
}
