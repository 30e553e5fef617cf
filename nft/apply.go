package nft

import (
	"errors"
	"fmt"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// Result says what Apply or Remove found and wrote.
type Result struct {
	Created bool     // the table was created: it was missing, or dormant and so recreated
	Removed bool     // the table was removed
	Chains  []string // chains written (created, deleted, policy set or rules rewritten), sorted
	// Differences between the live table and the desired one, for people:
	// "table missing", "chain input: policy accept, want drop",
	// "chain output: rule 7 differs: live `...`, want `...`", ...
	// Whether a difference is drift or a wanted change is the caller's
	// call (it knows what it applied last).
	Differences []string
	// Writes is the number of netlink messages in the batch (0: nothing
	// written). In a dry run, the number that would have been sent.
	Writes int
	DryRun bool // nothing was written, Writes is what would have been
}

// Changed reports whether the live table differed from the desired one,
// i.e. whether something was written (or, in a dry run, would have been).
func (r Result) Changed() bool { return r.Writes > 0 }

// Apply makes the live `table inet dcfw` of the namespace equal to desired:
// it reads the live table, computes the difference (see diff) and writes
// only what differs as ONE netlink batch, which the kernel applies entirely
// or not at all. When nothing differs it sends nothing. Other tables are
// never touched. With dryRun it computes the Result and writes nothing.
//
// Should the batch fail because the ruleset changed between the read and
// the write (ENOENT, EEXIST: someone deleted or created a chain meanwhile),
// Apply reads and tries once more. Should the kernel's replies overflow the
// socket (ENOBUFS; the buffers are sized to prevent it), Apply reads the
// table back and succeeds if it is as desired.
func (c *Conn) Apply(desired *Table, dryRun bool) (Result, error) {
	if err := checkDesired(desired); err != nil {
		return Result{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 1; ; attempt++ {
		live, err := c.read(false)
		if err != nil {
			return Result{DryRun: dryRun}, err
		}
		p := diff(desired, live)
		res := Result{
			Created:     p.createTable,
			Chains:      p.chains(),
			Differences: p.differences,
			Writes:      p.writes(),
			DryRun:      dryRun,
		}
		if p.empty() || dryRun {
			return res, nil
		}
		err = c.write(&p)
		if err == nil {
			return res, nil
		}
		if errors.Is(err, unix.ENOBUFS) && c.verify(desired) {
			// The kernel committed the batch but some replies were lost;
			// the table is as desired.
			return res, nil
		}
		if attempt == 1 && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EEXIST)) {
			continue
		}
		return Result{Differences: p.differences}, err
	}
}

// verify reports whether the live table now equals desired.
func (c *Conn) verify(desired *Table) bool {
	live, err := c.read(false)
	if err != nil {
		return false
	}
	p := diff(desired, live)
	return p.empty()
}

// checkDesired rejects tables Apply cannot write.
func checkDesired(t *Table) error {
	if t == nil {
		return errors.New("nft: Apply: no desired table (use Remove to delete it)")
	}
	seen := map[string]bool{}
	for _, c := range t.Chains {
		if c == nil || c.Name == "" || seen[c.Name] {
			return errors.New("nft: Apply: desired table has an unnamed, nil or duplicate chain")
		}
		seen[c.Name] = true
		for i := range c.Rules {
			if c.Rules[i].Foreign() {
				return fmt.Errorf("nft: Apply: chain %s rule %d is a foreign (live) rule, which cannot be written", c.Name, i+1)
			}
		}
	}
	return nil
}

// Remove deletes `table inet dcfw` (with its chains and rules) if present,
// and nothing else. With dryRun it only reports whether it would.
func (c *Conn) Remove(dryRun bool) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	exists, err := c.tableExists()
	if err != nil {
		return Result{DryRun: dryRun}, fmt.Errorf("%w: %w", ErrRead, err)
	}
	if !exists {
		return Result{DryRun: dryRun}, nil
	}
	res := Result{Removed: true, Writes: 1, DryRun: dryRun, Differences: []string{"table present"}}
	if dryRun {
		return res, nil
	}
	cc, err := c.batchConn(4096, 1)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrWriteRejected, err)
	}
	cc.DelTable(libTable())
	if err := cc.Flush(); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return Result{}, nil // removed by someone else meanwhile
		}
		return Result{}, fmt.Errorf("%w: delete table inet %s: %w", ErrWriteRejected, TableName, err)
	}
	return res, nil
}

func libTable() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
}

// write sends the plan as one batch. Order inside the batch matters:
// chains that will be deleted or rewritten are flushed first (a jump from
// one of our chains into a foreign chain must be gone before that chain
// can be deleted), then chains are deleted, created, updated, and rules
// added.
func (c *Conn) write(p *plan) error {
	bytes := 0
	for _, cs := range [][]*Chain{p.addChains, p.rewrite} {
		for _, ch := range cs {
			for i := range ch.Rules {
				bytes += len(ch.Rules[i].key()) + 128
			}
		}
	}
	cc, err := c.batchConn(bytes+4096, p.writes()+2)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWriteRejected, err)
	}
	t := libTable()
	if p.deleteTable {
		cc.DelTable(t)
	}
	if p.createTable {
		cc.AddTable(t)
	}
	for _, ch := range p.rewrite {
		cc.FlushChain(&nftables.Chain{Name: ch.Name, Table: t})
	}
	if !p.deleteTable {
		for _, ch := range p.delChains {
			cc.FlushChain(&nftables.Chain{Name: ch.Name, Table: t})
		}
		for _, ch := range p.delChains {
			cc.DelChain(&nftables.Chain{Name: ch.Name, Table: t})
		}
	}
	for _, ch := range p.addChains {
		lc := cc.AddChain(libChain(t, ch))
		addRules(cc, t, lc, ch)
	}
	for _, ch := range p.setPolicy {
		// Only the policy: the kernel updates the existing base chain.
		pol := nftables.ChainPolicy(ch.Policy)
		cc.AddChain(&nftables.Chain{Name: ch.Name, Table: t, Policy: &pol})
	}
	for _, ch := range p.rewrite {
		addRules(cc, t, &nftables.Chain{Name: ch.Name, Table: t}, ch)
	}
	if err := cc.Flush(); err != nil {
		return fmt.Errorf("%w: %w", ErrWriteRejected, err)
	}
	return nil
}

func libChain(t *nftables.Table, c *Chain) *nftables.Chain {
	lc := &nftables.Chain{Name: c.Name, Table: t}
	if c.Base {
		hook := nftables.ChainHook(c.Hook)
		prio := nftables.ChainPriority(c.Priority)
		pol := nftables.ChainPolicy(c.Policy)
		lc.Hooknum, lc.Priority, lc.Policy = &hook, &prio, &pol
		lc.Type = nftables.ChainType(c.Type)
	}
	return lc
}

func addRules(cc *nftables.Conn, t *nftables.Table, lc *nftables.Chain, c *Chain) {
	for i := range c.Rules {
		cc.AddRule(&nftables.Rule{
			Table:    t,
			Chain:    lc,
			Exprs:    c.Rules[i].encode(),
			UserData: c.Rules[i].userData(),
		})
	}
}
