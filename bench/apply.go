package bench

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
	"github.com/dcfw/dcfw/reconcile"
)

// Op is the measurement of one kind of Apply, repeated.
type Op struct {
	Walls []time.Duration
	CPUs  []time.Duration
	// Of the last call (every call of one kind writes the same).
	Result nft.Result
}

// ApplyCost is the cost of Apply for one table size.
type ApplyCost struct {
	Rules int // kernel rules of `table inet dcfw` (RuleCount)
	// First: creating both tables in a namespace without them.
	First Op
	// Change: one label rule of the input chain differs (its port), so its
	// kernel rule and the rule's mirror in the output chain do;
	// alternately one way and back.
	Change Op
	// NoChange: the live table is the desired one.
	NoChange Op
}

// FilterChains reports whether the one-rule change wrote the two filter
// chains and nothing else: not the table, not the stamp, unstamp or egress
// chains. Both filter chains, since a write to either draws a new
// conntrack mark, which both carry.
func (c ApplyCost) FilterChains() bool {
	r := c.Change.Result
	return !r.Created && !r.Removed && slices.Equal(r.Chains, []string{nft.InputChain, nft.OutputChain})
}

// ApplySizes measures Apply, as the controller calls it
// (reconcile.NFTFirewall: one netlink connection per call, opened in the
// namespace), for tables of each size, reps times each, in the namespace
// of a sleeper of its own. Between two first applies the table is removed
// (not measured).
func ApplySizes(sizes []int, reps int) ([]ApplyCost, error) {
	if reps < 1 {
		return nil, errors.New("bench: at least one repetition")
	}
	var out []ApplyCost
	for _, size := range sizes {
		c, err := applySize(size, reps)
		if err != nil {
			return out, fmt.Errorf("bench: apply, %d rules: %w", size, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func applySize(size, reps int) (ApplyCost, error) {
	la, err := SizedLabels(size, 0)
	if err != nil {
		return ApplyCost{}, err
	}
	lb, _ := SizedLabels(size, 1)
	a, err := Table(la, ContainerID(0))
	if err != nil {
		return ApplyCost{}, err
	}
	b, err := Table(lb, ContainerID(0))
	if err != nil {
		return ApplyCost{}, err
	}

	s, err := StartSleepers(1)
	if err != nil {
		return ApplyCost{}, err
	}
	defer s.Close()
	ns, err := netnsutil.OpenPID("/proc", s.PIDs()[0])
	if err != nil {
		return ApplyCost{}, err
	}
	defer ns.Close()
	fw := reconcile.NFTFirewall{}

	cost := ApplyCost{Rules: RuleCount(a)}
	measure := func(op *Op, tbl *nft.Table) error {
		cpu0 := CPUTime()
		start := time.Now()
		res, err := fw.Apply(ns, tbl, false, nft.Generation{})
		wall := time.Since(start)
		cpu := CPUTime() - cpu0
		if err != nil {
			return err
		}
		op.Walls = append(op.Walls, wall)
		op.CPUs = append(op.CPUs, cpu)
		op.Result = res
		return nil
	}

	for range reps {
		if err := measure(&cost.First, a); err != nil {
			return cost, fmt.Errorf("first apply: %w", err)
		}
		if !cost.First.Result.Created {
			return cost, errors.New("first apply did not create the table")
		}
		if _, err := fw.Remove(ns, false); err != nil {
			return cost, fmt.Errorf("remove: %w", err)
		}
	}
	if _, err := fw.Apply(ns, a, false, nft.Generation{}); err != nil {
		return cost, err
	}
	for i := range reps {
		tbl := b
		if i%2 == 1 {
			tbl = a
		}
		if err := measure(&cost.Change, tbl); err != nil {
			return cost, fmt.Errorf("one-rule change: %w", err)
		}
		if !cost.Change.Result.Changed() {
			return cost, errors.New("one-rule change wrote nothing")
		}
	}
	// Back to a (after an odd number of changes b is live), not measured.
	if _, err := fw.Apply(ns, a, false, nft.Generation{}); err != nil {
		return cost, err
	}
	for range reps {
		if err := measure(&cost.NoChange, a); err != nil {
			return cost, fmt.Errorf("no change: %w", err)
		}
		if cost.NoChange.Result.Changed() {
			return cost, fmt.Errorf("an apply of the live table wrote %d messages", cost.NoChange.Result.Writes)
		}
	}
	return cost, nil
}
