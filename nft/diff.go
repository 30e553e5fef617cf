package nft

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// plan is what must be written to turn a live table into the desired one.
// It is computed without the kernel (diff) and then turned into one
// netlink batch (apply.go).
type plan struct {
	family      byte     // NFPROTO_INET or NFPROTO_NETDEV
	deleteTable bool     // delete the live table first (it has flags: recreate it)
	createTable bool     // add the table, then every desired chain (addChains)
	delChains   []*Chain // live chains to flush and delete
	addChains   []*Chain // desired chains to create, with their rules
	setPolicy   []*Chain // desired chains whose policy alone is updated
	rewrite     []*Chain // desired chains whose rules are flushed and re-added
	// sets: the named sets to create, delete and change (sets.go). A
	// change of elements alone writes no chain.
	sets setPlan

	differences []string

	// egress is the plan of `table netdev dcfw` (nil: nothing to write
	// there); only in the plan of the inet table.
	egress *plan
}

// empty reports whether nothing needs to be written.
func (p *plan) empty() bool {
	return !p.createTable && !p.deleteTable && len(p.delChains)+len(p.addChains)+len(p.setPolicy)+len(p.rewrite) == 0 &&
		p.sets.empty() &&
		(p.egress == nil || p.egress.empty())
}

// writesFilter reports whether the plan writes the input or output chain.
func (p *plan) writesFilter() bool {
	if p.createTable || p.deleteTable {
		return true
	}
	for _, cs := range [][]*Chain{p.delChains, p.addChains, p.setPolicy, p.rewrite} {
		for _, c := range cs {
			if c.Name == InputChain || c.Name == OutputChain {
				return true
			}
		}
	}
	return false
}

// addsEgressChains reports whether the plan creates a netdev chain.
func (p *plan) addsEgressChains() bool { return p.egress != nil && len(p.egress.addChains) > 0 }

// all returns the plan and the egress plan, if any.
func (p *plan) all() []*plan {
	if p.egress != nil {
		return []*plan{p, p.egress}
	}
	return []*plan{p}
}

// writes counts the netlink messages of the batch the plan becomes (the
// batch begin/end markers not counted).
func (p *plan) writes() int {
	n := 0
	if p.deleteTable {
		n++
	}
	if p.createTable {
		n++
	}
	if !p.deleteTable {
		n += 2 * len(p.delChains) // flush + delete
	}
	for _, c := range p.addChains {
		n += 1 + len(c.Rules)
	}
	n += len(p.setPolicy)
	n += p.sets.writes()
	for _, c := range p.rewrite {
		n += 1 + len(c.Rules) // flush + rules
	}
	if p.egress != nil {
		n += p.egress.writes()
	}
	return n
}

// chains returns the sorted names of the chains the plan writes.
func (p *plan) chains() []string {
	seen := map[string]bool{}
	for _, q := range p.all() {
		for _, cs := range [][]*Chain{q.delChains, q.addChains, q.setPolicy, q.rewrite} {
			for _, c := range cs {
				seen[c.Name] = true
			}
		}
	}
	if len(seen) == 0 {
		return nil
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// maxRuleDiffs caps the rule differences reported per chain.
const maxRuleDiffs = 3

// diff compares the desired table with the live one (nil when absent) and
// returns the minimal plan:
//   - table missing: create the table and all chains with their rules;
//   - table flags set (dormant, which switches all its chains off): delete
//     the table and create it anew, in the same batch (the kernel refuses
//     to wake a table and add a base chain to it in one batch);
//   - a chain missing: create it with its rules;
//   - a chain with the wrong type, hook or priority, or a chain dcfw does
//     not make: flush and delete it (and create the right one) in the same
//     batch;
//   - only the policy differs: update the chain's policy, rules untouched;
//   - the rules differ in any way (content, order, number, comment): flush
//     the chain and add its rules again.
//
// A chain that matches is not written at all, so a change in one chain
// never touches the other.
func diff(desired, live *Table) plan {
	var liveInet, liveEgress *Table
	if live != nil {
		liveEgress = live.Egress
		if !live.missing {
			liveInet = live
		}
	}
	p := diffTable(desired, liveInet)
	p.family = unix.NFPROTO_INET
	switch {
	case desired.Egress != nil:
		e := diffTable(desired.Egress, liveEgress)
		e.family = unix.NFPROTO_NETDEV
		for i, d := range e.differences {
			e.differences[i] = "netdev " + d
		}
		if !e.empty() {
			p.egress = &e
			p.differences = append(p.differences, e.differences...)
		}
	case liveEgress != nil:
		p.egress = &plan{family: unix.NFPROTO_NETDEV, deleteTable: true, differences: []string{"netdev table present"}}
		p.differences = append(p.differences, p.egress.differences...)
	}
	return p
}

// diffTable is diff for one table (family aside).
func diffTable(desired, live *Table) plan {
	var p plan
	if live == nil {
		p.createTable = true
		p.addChains = append(p.addChains, desired.Chains...)
		p.sets.addSets = append(p.sets.addSets, desired.Sets...)
		p.differences = append(p.differences, "table missing")
		return p
	}
	sets, setDiffs, recreate := diffSets(desired, live)
	if live.Flags != 0 || recreate {
		// A table with flags, or a set the rules could not go on using:
		// made anew in the same batch.
		chains := diffChains(desired, live)
		p.deleteTable, p.createTable = true, true
		p.addChains = append(p.addChains, desired.Chains...)
		p.sets.addSets = append(p.sets.addSets, desired.Sets...)
		p.delChains = chains.delChains // deleted with the table; named in Result.Chains
		p.differences = append(chains.differences, setDiffs...)
		if live.Flags != 0 {
			p.differences = append([]string{fmt.Sprintf("table flags %s, want none", tableFlags(live.Flags))}, p.differences...)
		}
		return p
	}
	p = diffChains(desired, live)
	p.sets = sets
	p.differences = append(p.differences, setDiffs...)
	return p
}

// diffChains is diff for a live table without flags.
func diffChains(desired, live *Table) plan {
	var p plan
	for _, l := range live.Chains {
		if desired.Chain(l.Name) == nil {
			p.delChains = append(p.delChains, l)
			p.differences = append(p.differences, fmt.Sprintf("chain %s: not made by dcfw (%s)", l.Name, count(len(l.Rules), "rule")))
		}
	}
	for _, d := range desired.Chains {
		l := live.Chain(d.Name)
		switch {
		case l == nil:
			p.addChains = append(p.addChains, d)
			p.differences = append(p.differences, fmt.Sprintf("chain %s missing", d.Name))
			continue
		case !l.sameHook(d):
			p.delChains = append(p.delChains, l)
			p.addChains = append(p.addChains, d)
			p.differences = append(p.differences, fmt.Sprintf("chain %s: %s, want %s", d.Name, hookString(l), hookString(d)))
			continue
		}
		if l.Base && l.Policy != d.Policy {
			p.setPolicy = append(p.setPolicy, d)
			p.differences = append(p.differences, fmt.Sprintf("chain %s: policy %s, want %s", d.Name, l.Policy, d.Policy))
		}
		if ds := ruleDiffs(l.Rules, d.Rules); len(ds) > 0 {
			p.rewrite = append(p.rewrite, d)
			for _, s := range ds {
				p.differences = append(p.differences, "chain "+d.Name+": "+s)
			}
		}
	}
	return p
}

func hookString(c *Chain) string {
	if !c.Base {
		return "regular chain"
	}
	return fmt.Sprintf("type %s hook %s priority %s", c.Type, hookName(c.Hook), priorityName(c.Priority))
}

// ruleDiffs describes how the live rules differ from the wanted ones, or
// returns nil when they are the same. It strips the common head and tail
// and describes the differing middle, so one inserted or deleted rule
// reads as that, not as every later rule being different.
func ruleDiffs(live, want []Rule) []string {
	lk := make([]string, len(live))
	for i := range live {
		lk[i] = live[i].key()
	}
	wk := make([]string, len(want))
	for i := range want {
		wk[i] = want[i].encodedKey()
	}
	head := 0
	for head < len(lk) && head < len(wk) && lk[head] == wk[head] {
		head++
	}
	if head == len(lk) && head == len(wk) {
		return nil
	}
	tail := 0
	for tail < len(lk)-head && tail < len(wk)-head && lk[len(lk)-1-tail] == wk[len(wk)-1-tail] {
		tail++
	}
	lm := live[head : len(live)-tail]
	wm := want[head : len(want)-tail]
	pos := head + 1 // 1-based, in the wanted order
	switch {
	case len(wm) == 0:
		return []string{fmt.Sprintf("%s at %d: %s", count(len(lm), "extra rule"), pos, showRules(lm))}
	case len(lm) == 0:
		return []string{fmt.Sprintf("%s missing at %d: %s", count(len(wm), "rule"), pos, showRules(wm))}
	case len(lm) == 1 && len(wm) == 1:
		return []string{fmt.Sprintf("rule %d differs: live `%s`, want `%s`", pos, lm[0].String(), wm[0].String())}
	}
	return []string{fmt.Sprintf("rules %d-%d differ: live has %d (%s), want %d (%s)",
		pos, pos+max(len(lm), len(wm))-1, len(lm), showRules(lm), len(wm), showRules(wm))}
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// showRules renders up to maxRuleDiffs rules for a difference message.
func showRules(rs []Rule) string {
	var parts []string
	for i := range rs {
		if i == maxRuleDiffs {
			parts = append(parts, fmt.Sprintf("and %d more", len(rs)-i))
			break
		}
		parts = append(parts, "`"+rs[i].String()+"`")
	}
	return strings.Join(parts, ", ")
}
