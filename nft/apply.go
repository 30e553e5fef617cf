package nft

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/google/nftables"
	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
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
	// Generation is the namespace's ruleset generation at which the live
	// table was equal to the desired one: the one Apply's read found it
	// at, or the one its own batch produced. Unknown (the zero value) when
	// Apply cannot be sure (a dry run that found differences, a failed
	// write, someone else committing right after our batch). A caller
	// hands it back to ApplyKnown with the same desired table.
	Generation Generation
	// Skipped: the generation was still the known one, so Apply read and
	// wrote nothing (see ApplyKnown).
	Skipped bool
	// Sets are the element changes of sets that were there already, per
	// set (nil when none): a name's addresses that changed. Sets created
	// or deleted are in Differences.
	Sets []SetChange
	// EgressUnsupported: the desired table wants the raw-frame filter but
	// the kernel has no netdev egress hook (before 5.16), so the namespace
	// has none: frames sent through AF_PACKET sockets are not filtered.
	// Everything else was applied.
	EgressUnsupported bool
}

// Generation is an nf_tables ruleset generation ID of one network
// namespace. The kernel bumps it on every committed batch in that
// namespace, whoever sends it and whichever table it touches, and the
// counter is per namespace: a new namespace starts again from the
// beginning. The zero value is "unknown" and matches nothing.
type Generation struct {
	ID    uint32
	Known bool

	// links: the namespace's interfaces (linkKey) when the table was
	// equal, if it has egress chains: a new interface does not move the
	// generation but needs a chain.
	links string
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
	return c.ApplyKnown(desired, dryRun, Generation{})
}

// ApplyKnown is Apply for a caller that remembers the Result.Generation of
// its last Apply of an identical desired table on this same namespace (the
// caller's promise; with the zero Generation it is Apply). If the
// namespace's generation is still that one, it returns at once with
// Skipped set: one generation request, no read, no write.
//
// Why that is sound: a known generation g means the live table was equal
// to desired at g (Apply read it so in one consistent snapshot taken at g,
// or its own batch was the only commit after such a snapshot and made it
// so, see generationAfter). Every change to a namespace's ruleset is a
// committed batch and every commit bumps the generation; the counter only
// moves forward (until it wraps after 2^32 commits). So the generation
// still being g means nothing was committed since, and the table is still
// equal to desired. Tampering (nft inside the container, even one that
// puts back exactly what was there) bumps it and brings back the full
// read, compare and repair. A known generation never comes from a table
// with flags (owner, dormant): those always differ from desired, and an
// owner table could vanish with its owner without a commit.
//
// What the caller must guarantee: desired is the same table as the one
// that produced known (same String, see Compile), and known was obtained
// in this very namespace, not in an earlier one that had the same
// identity (inode numbers are reused, and a new namespace's generation
// counts from the start again, so an old value may recur).
func (c *Conn) ApplyKnown(desired *Table, dryRun bool, known Generation) (Result, error) {
	if err := checkDesired(desired); err != nil {
		return Result{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nl == nil {
		return Result{DryRun: dryRun}, fmt.Errorf("%w: connection closed", ErrRead)
	}
	if desired.Egress != nil && !c.noEgress {
		// The probe commits: before the read, so that the generation
		// after our write is still the read's plus one.
		c.hooksAbsent()
	}
	if known.Known {
		gen, err := c.Generation()
		if err != nil {
			return Result{DryRun: dryRun}, fmt.Errorf("%w: %w", ErrRead, err)
		}
		if gen == known.ID {
			devs, err := c.egressDevices(desired)
			if err != nil {
				return Result{DryRun: dryRun}, err
			}
			if linkKey(devs) == known.links {
				return Result{DryRun: dryRun, Generation: known, Skipped: true, EgressUnsupported: desired.Egress != nil && c.noEgress}, nil
			}
		}
	}
	for attempt := 1; ; attempt++ {
		live, gen, err := c.read(false)
		if err != nil {
			return Result{DryRun: dryRun}, err
		}
		devs, err := c.egressDevices(desired)
		if err != nil {
			return Result{DryRun: dryRun}, err
		}
		want, p := planApply(desired, live, devs, c.noEgress)
		res := newResult(&p, dryRun)
		res.EgressUnsupported = desired.Egress != nil && c.noEgress
		if p.empty() {
			// Equal in the snapshot taken at gen (flags included: a
			// table with flags is never equal).
			res.Generation = Generation{ID: gen, Known: true, links: linkKey(devs)}
			return res, nil
		}
		if dryRun {
			return res, nil
		}
		err = c.write(&p)
		if err == nil {
			res.Generation = c.generationAfter(gen)
			res.Generation.links = linkKey(devs)
			return res, nil
		}
		if errors.Is(err, unix.ENOBUFS) && c.verify(want) {
			// The kernel committed the batch but some replies were lost;
			// the table is as desired.
			return res, nil
		}
		if errors.Is(err, unix.EOPNOTSUPP) && p.addsEgressChains() && !c.noEgress {
			// No egress hook in this kernel: everything else still
			// goes in; the caller learns it from EgressUnsupported.
			c.noEgress = true
			attempt--
			continue
		}
		if attempt == 1 && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EEXIST)) {
			continue
		}
		return Result{Differences: p.differences}, err
	}
}

func newResult(p *plan, dryRun bool) Result {
	return Result{
		Created:     p.createTable,
		Chains:      p.chains(),
		Differences: p.differences,
		Writes:      p.writes(),
		DryRun:      dryRun,
		Sets:        slices.Clone(p.sets.changes),
	}
}

// planApply returns the table Apply makes (desired with the secret and
// the egress chains for devs) and the plan to get there from live. It
// keeps the live secret, makes the parts that are missing, and makes a
// new conntrack mark whenever the plan writes the input or output chain
// (see conntrack.go). Without egress support the desired table has no
// raw-frame filter (and a live one is removed).
func planApply(desired, live *Table, devs []string, noEgress bool) (*Table, plan) {
	var s Secret
	if live != nil {
		s = live.Secret
	}
	if s.Mark == 0 || s.Priority == 0 {
		s.Mark, s.Priority = randomUint32(), randomUint32()
	}
	if s.Conn == 0 {
		s.Conn = randomUint32()
	}
	if noEgress && desired.Egress != nil {
		d := *desired
		d.Egress = nil
		desired = &d
	}
	want := withSecret(desired, s, devs)
	p := diff(want, live)
	if usesConnMark(want) && p.writesFilter() {
		for old := s.Conn; s.Conn == old; {
			s.Conn = randomUint32()
		}
		want = withSecret(desired, s, devs)
		found := p.differences
		p = diff(want, live)
		// Report what differed, not the new mark in every rule.
		p.differences = found
	}
	return want, p
}

// dockerInterfaces are the names Docker gives a container's interfaces, one
// per network in order. On kernels that hook devices by name (Linux 6.16
// and newer) their egress chains are made before the interfaces exist: a
// starting container is protected before its interface moves in (as a
// temporary veth name, renamed to eth0 in the namespace), and a name-bound
// hook would not follow the rename.
var dockerInterfaces = []string{"eth0", "eth1", "eth2", "eth3"}

// dockerTemporaryName reports whether name is one Docker's network drivers
// (bridge, macvlan, ipvlan, overlay) give an interface while they move it
// into a container's namespace, before renaming it to ethN: "veth" and 7
// hex digits. Where the kernel hooks absent devices, ethN's chain is there
// already; one for the temporary name would only be left over.
func dockerTemporaryName(name string) bool {
	rest, ok := strings.CutPrefix(name, "veth")
	if !ok || len(rest) != 7 {
		return false
	}
	for _, r := range rest {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// absentHooks records, for the whole process, whether the kernel takes
// netdev hooks on devices that do not exist (yet): it is the same kernel
// in every namespace.
var absentHooks atomic.Int32

const (
	absentHooksUnknown = iota
	absentHooksYes
	absentHooksNo
)

// probeDevice is a name no interface has; probeTable holds the probe's
// chain for the moment of the probe.
const (
	probeDevice = "dcfw-probe0"
	probeTable  = "dcfw_probe"
)

// hooksAbsent reports whether the kernel hooks absent devices, asking it
// once per process: a netdev chain on an absent device is refused with
// ENOENT before Linux 6.16. The probe is its own table, created and
// deleted in this namespace, so that dcfw's table never sees a refusal.
func (c *Conn) hooksAbsent() bool {
	switch absentHooks.Load() {
	case absentHooksYes:
		return true
	case absentHooksNo:
		return false
	}
	cc, err := c.batchConn(4096, 4)
	if err != nil {
		return false // not known: ask again next time
	}
	t := &nftables.Table{Name: probeTable, Family: nftables.TableFamilyNetdev}
	hook, prio, pol := nftables.ChainHook(egressHook), nftables.ChainPriority(0), nftables.ChainPolicyAccept
	cc.AddTable(t)
	cc.AddChain(&nftables.Chain{Name: "probe", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: &hook, Priority: &prio, Policy: &pol, Device: probeDevice})
	err = cc.Flush()
	switch {
	case err == nil:
		cc.DelTable(t)
		cc.Flush() //nolint:errcheck // an empty probe table left behind is harmless, and Remove does not look at it
		absentHooks.Store(absentHooksYes)
		return true
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV):
		absentHooks.Store(absentHooksNo)
	}
	return false
}

// withDockerInterfaces adds Docker's interface names to the present ones,
// sorted, unless the kernel is known not to hook absent devices.
func withDockerInterfaces(present []string, noAbsent bool) []string {
	devs := slices.Clone(present)
	if !noAbsent {
		for _, d := range dockerInterfaces {
			if !slices.Contains(devs, d) {
				devs = append(devs, d)
			}
		}
	}
	sort.Strings(devs)
	return devs
}

// egressDevices lists the interfaces that get an egress chain: all of the
// namespace's but lo, and Docker's names where the kernel hooks absent
// devices, sorted by name; none when desired wants no raw-frame filter or
// the kernel cannot have one.
func (c *Conn) egressDevices(desired *Table) ([]string, error) {
	if desired.Egress == nil || c.noEgress {
		return nil, nil
	}
	if c.rtnl == nil {
		h, err := vnl.NewHandleAt(netns.NsHandle(c.nsFd), unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("%w: rtnetlink in namespace: %w", ErrRead, err)
		}
		c.rtnl = h
	}
	links, err := c.rtnl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("%w: list interfaces: %w", ErrRead, err)
	}
	absent := c.hooksAbsent()
	var present []string
	for _, l := range links {
		a := l.Attrs()
		if a.Index == 1 || a.Name == "lo" || absent && dockerTemporaryName(a.Name) {
			continue
		}
		present = append(present, a.Name)
	}
	return withDockerInterfaces(present, !absent), nil
}

// generationAfter returns the generation our batch made, computed from
// the read's snapshot generation (the plan was made against the table at
// read), if it is sure. It asks for the generation after the batch was
// acknowledged: read+1 means exactly one commit happened since the
// snapshot, and since ours was committed (and a commit always bumps the
// generation) that one was ours, applied to the table we read, so the
// table is now as desired at read+1. Anything else (someone else
// committed before or after our batch) is unknown: the next Apply reads.
// A wrap of the counter (the kernel skips 0) is unknown too.
func (c *Conn) generationAfter(read uint32) Generation {
	gen, err := c.Generation()
	if err != nil || gen != read+1 || gen == 0 {
		return Generation{}
	}
	return Generation{ID: gen, Known: true}
}

// verify reports whether the live table now equals want (a table with
// its secret and egress chains filled in).
func (c *Conn) verify(want *Table) bool {
	live, _, err := c.read(false)
	if err != nil {
		return false
	}
	p := diff(want, live)
	return p.empty()
}

// checkDesired rejects tables Apply cannot write.
func checkDesired(t *Table) error {
	if t == nil {
		return errors.New("nft: Apply: no desired table (use Remove to delete it)")
	}
	seen := map[string]bool{}
	if t.Egress != nil && len(t.Egress.Chains) > 0 {
		return errors.New("nft: Apply: desired egress table has chains (Apply makes them, one per interface)")
	}
	for _, c := range t.Chains {
		if c == nil || c.Name == "" || seen[c.Name] {
			return errors.New("nft: Apply: desired table has an unnamed, nil or duplicate chain")
		}
		seen[c.Name] = true
		for i := range c.Rules {
			r := &c.Rules[i]
			if r.Foreign() {
				return fmt.Errorf("nft: Apply: chain %s rule %d is a foreign (live) rule, which cannot be written", c.Name, i+1)
			}
			for _, set := range []string{r.SaddrSet, r.DaddrSet} {
				if s := t.Set(set); set != "" && (s == nil || s.Family != r.Family) {
					return fmt.Errorf("nft: Apply: chain %s rule %d looks up set %q, which the desired table does not have for its family", c.Name, i+1, set)
				}
			}
		}
	}
	return nil
}

// Remove deletes `table inet dcfw` and `table netdev dcfw` (with their
// chains and rules) if present, and nothing else. With dryRun it only
// reports whether it would.
func (c *Conn) Remove(dryRun bool) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := Result{DryRun: dryRun}
	var fams []byte
	for _, f := range []struct {
		fam  byte
		what string
	}{{unix.NFPROTO_INET, "table present"}, {unix.NFPROTO_NETDEV, "netdev table present"}} {
		exists, err := c.tableExists(f.fam)
		if err != nil {
			return Result{DryRun: dryRun}, fmt.Errorf("%w: %w", ErrRead, err)
		}
		if exists {
			fams = append(fams, f.fam)
			res.Differences = append(res.Differences, f.what)
		}
	}
	if len(fams) == 0 {
		return res, nil
	}
	res.Removed, res.Writes = true, len(fams)
	if dryRun {
		return res, nil
	}
	cc, err := c.batchConn(4096, len(fams))
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrWriteRejected, err)
	}
	for _, f := range fams {
		cc.DelTable(libTable(f))
	}
	if err := cc.Flush(); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return Result{}, nil // removed by someone else meanwhile
		}
		return Result{}, fmt.Errorf("%w: delete table %s: %w", ErrWriteRejected, TableName, err)
	}
	return res, nil
}

func libTable(fam byte) *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamily(fam)}
}

// write sends the plan as one batch. Order inside the batch matters:
// chains that will be deleted or rewritten are flushed first (a jump from
// one of our chains into a foreign chain must be gone before that chain
// can be deleted), then chains are deleted, created, updated, and rules
// added.
func (c *Conn) write(plan *plan) error {
	bytes := 0
	for _, p := range plan.all() {
		for _, cs := range [][]*Chain{p.addChains, p.rewrite} {
			for _, ch := range cs {
				for i := range ch.Rules {
					bytes += len(ch.Rules[i].key()) + 128
				}
			}
		}
	}
	for _, s := range plan.sets.addSets {
		bytes += 256 + 32*len(s.Elements)
	}
	for _, ch := range plan.sets.changes {
		bytes += 256 + 32*(len(ch.Added)+len(ch.Removed))
	}
	cc, err := c.batchConn(bytes+4096, plan.writes()+2)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWriteRejected, err)
	}
	for _, p := range plan.all() {
		if err := writeTable(cc, p); err != nil {
			return fmt.Errorf("%w: %w", ErrWriteRejected, err)
		}
	}
	if err := cc.Flush(); err != nil {
		return fmt.Errorf("%w: %w", ErrWriteRejected, err)
	}
	return nil
}

// writeTable adds the messages of one table's plan to the batch.
func writeTable(cc *nftables.Conn, p *plan) error {
	t := libTable(p.family)
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
		writeSetDeletions(cc, t, &p.sets)
	}
	if err := writeSetAdditions(cc, t, &p.sets); err != nil {
		return err
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
		lc.Device = c.Device
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
