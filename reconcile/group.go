package reconcile

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nft"
)

// reconcileGroup brings one namespace into the state its containers' labels
// describe. Containers that share a namespace are one unit: if they all
// want the same, that is applied; if they disagree, the namespace is locked
// down (there is only one table, and picking one container's rules would
// silently override the other's).
func (c *Controller) reconcileGroup(g *nsGroup, all []engine.Container) CycleStats {
	var st CycleStats
	slices.SortFunc(g.members, func(a, b member) int {
		return cmp.Or(cmp.Compare(a.ctr.Name(), b.ctr.Name()), cmp.Compare(a.ctr.ID, b.ctr.ID))
	})
	owner := namespaceOwner(g, all)
	nsKey := g.ns.ID().String()

	wants := make([]desired, len(g.members))
	skip := false
	for i, m := range g.members {
		strictLock := c.checkPrivileges(m)
		switch {
		case m.perr != nil:
			st.Errors++
			c.reportLabelErrors(m)
			if c.cfg.OnError == Skip {
				skip = true
				continue
			}
			wants[i] = wantLockdown(owner.ID)
		case strictLock:
			// Logged by checkPrivileges.
			st.Errors++
			c.errs.clear("labels:" + m.ctr.ID)
			wants[i] = wantLockdown(owner.ID)
		case m.policy.State == labels.Disabled:
			c.errs.clear("labels:" + m.ctr.ID)
			wants[i] = wantNoTable()
		default:
			c.errs.clear("labels:" + m.ctr.ID)
			var d desired
			var err error
			if m.verdict != nil {
				d, err = c.verdicts.want(m.verdict, owner.ID)
			} else {
				d, err = wantStructure(m.policy, owner.ID)
			}
			if err == nil {
				d, err = c.withNames(g, m, owner, d)
			}
			if err != nil {
				// A policy the compiler cannot express, or a deny name
				// without an address (logged by withNames): fail closed
				// like a label error.
				st.Errors++
				if errors.Is(err, errNameLockdown) {
					d = c.wantNameLockdown(owner.ID)
				} else {
					c.reportCompileError(m, err)
					d = wantLockdown(owner.ID)
				}
			}
			wants[i] = d
		}
	}
	if skip {
		// --on-error=skip: a namespace with any broken labels is left as
		// it is, whatever the other containers in it want.
		return st
	}

	want := wants[0]
	conflict := false
	for i := 1; i < len(wants) && !conflict; i++ {
		if wants[i].fingerprint == want.fingerprint {
			continue
		}
		conflict = true
		st.Errors++
		a, b := g.members[0].ctr, g.members[i].ctr
		c.logError("conflict:"+nsKey, "containers share a network namespace but their dcfw labels differ; namespace locked down",
			fmt.Errorf("%s wants %s; %s wants %s", a.Name(), describe(wants[0]), b.Name(), describe(wants[i])),
			zap.String("container", a.Name()), zap.String("other", b.Name()), zap.String("namespace", nsKey),
			zap.Strings("members", memberNames(g)))
		want = wantLockdown(owner.ID)
	}
	if !conflict {
		c.errs.clear("conflict:" + nsKey)
	}

	if want.mode != ModeNoTable {
		st.Managed++
	}
	changed, ok := c.enforce(g, owner, want)
	switch {
	case !ok:
		st.Errors++
	case changed && want.mode == ModeNoTable:
		st.Removed++
	case changed:
		st.Changed++
	}
	return st
}

// reportCompileError logs why a container's policy could not be compiled
// (once per change): most often it asks for more kernel rules than one
// label rule or one namespace may hold, which the error counts.
func (c *Controller) reportCompileError(m member, err error) {
	msg := "cannot compile the container's policy; locking it down"
	if errors.Is(err, nft.ErrTableTooLarge) || errors.Is(err, nft.ErrTooManyRules) {
		msg = "the container's policy needs too many kernel rules; locking it down (only loopback traffic passes until the labels are fixed)"
	}
	if c.errs.allow("compile:"+m.ctr.ID, err.Error(), c.now()) {
		c.log.Error(msg,
			zap.String("container", m.ctr.Name()), zap.String("id", engine.ShortID(m.ctr.ID)),
			zap.Int("input_rules", len(m.policy.Input.Rules)), zap.Int("output_rules", len(m.policy.Output.Rules)),
			zap.Int("max_table_rules", nft.MaxTableRules), zap.Int("max_rules_per_label_rule", nft.MaxRulesPerLabelRule),
			zap.String("error", safeText(err.Error())))
	}
}

func describe(d desired) string {
	switch d.mode {
	case ModePolicy:
		in, out, nin, nout := d.chainSummary()
		return fmt.Sprintf("input %s (%d rules), output %s (%d rules)", in, nin, out, nout)
	case ModeLockdown:
		return "lockdown (its labels have errors, or --strict)"
	}
	return "no table (dcfw.enable=false)"
}

func memberNames(g *nsGroup) []string {
	out := make([]string, len(g.members))
	for i, m := range g.members {
		out[i] = m.ctr.Name()
	}
	return out
}

// incarnation identifies the processes behind a namespace's configuration.
// Namespace identities (inode numbers) are reused by the kernel; a restarted
// container may even get the same one. Drift is only drift if the same
// processes are still there.
func incarnation(g *nsGroup) string {
	parts := make([]string, len(g.members))
	for i, m := range g.members {
		parts[i] = m.ctr.ID + ":" + strconv.Itoa(m.pid)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// holders are the IDs of the group's members and its owner.
func holders(g *nsGroup, owner engine.Container) []string {
	out := []string{owner.ID}
	for _, m := range g.members {
		if m.ctr.ID != owner.ID {
			out = append(out, m.ctr.ID)
		}
	}
	return out
}

// namespaceOwner is the container that created the namespace: the one not
// joined via network_mode container:X. Its ID is in the kernel log prefix,
// whichever container's labels asked for logging. The owner need not be
// managed itself.
func namespaceOwner(g *nsGroup, all []engine.Container) engine.Container {
	for _, m := range g.members {
		if m.ctr.NetworkMode.JoinedContainer() == "" {
			return m.ctr
		}
	}
	// Follow container:X links (bounded: a cycle is impossible in Docker,
	// but a bad answer must not hang the loop).
	cur := g.members[0].ctr
	for range len(all) + 1 {
		ref := cur.NetworkMode.JoinedContainer()
		if ref == "" {
			return cur
		}
		next, ok := findContainer(all, ref)
		if !ok {
			break
		}
		cur = next
	}
	return cur
}

// findContainer finds a container by full ID, ID prefix or name, as
// network_mode container:X may name it.
func findContainer(all []engine.Container, ref string) (engine.Container, bool) {
	for _, c := range all {
		if c.ID == ref {
			return c, true
		}
	}
	for _, c := range all {
		if slices.Contains(c.Names, ref) {
			return c, true
		}
	}
	for _, c := range all {
		if len(ref) >= 12 && strings.HasPrefix(c.ID, ref) {
			return c, true
		}
	}
	return engine.Container{}, false
}

// sharingNamespace returns the containers of all that may share a namespace
// with one of the targets: those linked to it by network_mode container:X,
// in either direction and transitively. Targets need not be running (a
// container that died leaves the ones that joined it).
func sharingNamespace(all []engine.Container, targets map[string]bool) []engine.Container {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		p, ok := parent[x]
		if !ok || p == x {
			parent[x] = x
			return x
		}
		r := find(p)
		parent[x] = r
		return r
	}
	union := func(a, b string) { parent[find(a)] = find(b) }
	for _, c := range all {
		find(c.ID)
		ref := c.NetworkMode.JoinedContainer()
		if ref == "" {
			continue
		}
		if o, ok := findContainer(all, ref); ok {
			union(c.ID, o.ID)
		} else {
			union(c.ID, ref) // the joined container is not running
		}
	}
	roots := map[string]bool{}
	for id := range targets {
		roots[find(id)] = true
	}
	var out []engine.Container
	for _, c := range all {
		if roots[find(c.ID)] {
			out = append(out, c)
		}
	}
	return out
}
