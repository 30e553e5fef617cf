package bench

import (
	"fmt"
	"sync"

	"github.com/dcfw/dcfw/nft"
	"github.com/dcfw/dcfw/reconcile"
)

// Counts is what a Counting firewall saw.
type Counts struct {
	Applies int // Apply calls
	Removes int // Remove calls
	Writes  int // netlink messages written (sum of nft.Result.Writes)
	Written int // calls that wrote something (one netlink batch each; two for FullRewrite)
	Created int // calls that created a table
	Errors  int // calls that failed
	Skipped int // Apply calls answered by the generation alone (nft.Result.Skipped)
}

// Sub is c minus o: what happened between two snapshots.
func (c Counts) Sub(o Counts) Counts {
	return Counts{
		Applies: c.Applies - o.Applies,
		Removes: c.Removes - o.Removes,
		Writes:  c.Writes - o.Writes,
		Written: c.Written - o.Written,
		Created: c.Created - o.Created,
		Errors:  c.Errors - o.Errors,
		Skipped: c.Skipped - o.Skipped,
	}
}

// Counting is a reconcile.Firewall that counts what the firewall it wraps
// does. Safe for concurrent use.
type Counting struct {
	Inner reconcile.Firewall
	// Quiet reports every call to the controller as one that changed
	// nothing (the real result is still counted). FullRewrite writes every
	// table on every cycle; without Quiet the controller would log each as
	// repaired drift, and the comparison would be of log volume, not of
	// the firewall's work: with it, the controller takes the same path in
	// both strategies.
	Quiet bool

	mu sync.Mutex
	c  Counts
}

var _ reconcile.Firewall = (*Counting)(nil)

// Counts returns the counts so far.
func (f *Counting) Counts() Counts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.c
}

// Apply implements reconcile.Firewall.
func (f *Counting) Apply(ns reconcile.Namespace, desired *nft.Table, dryRun bool, known nft.Generation) (nft.Result, error) {
	res, err := f.Inner.Apply(ns, desired, dryRun, known)
	f.count(false, res, err)
	return f.report(res), err
}

// Remove implements reconcile.Firewall.
func (f *Counting) Remove(ns reconcile.Namespace, dryRun bool) (nft.Result, error) {
	res, err := f.Inner.Remove(ns, dryRun)
	f.count(true, res, err)
	return f.report(res), err
}

func (f *Counting) count(remove bool, res nft.Result, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if remove {
		f.c.Removes++
	} else {
		f.c.Applies++
	}
	if err != nil {
		f.c.Errors++
		return
	}
	f.c.Writes += res.Writes
	if res.Writes > 0 {
		f.c.Written++
	}
	if res.Created {
		f.c.Created++
	}
	if res.Skipped {
		f.c.Skipped++
	}
}

func (f *Counting) report(res nft.Result) nft.Result {
	if f.Quiet {
		return nft.Result{DryRun: res.DryRun, Generation: res.Generation, Skipped: res.Skipped}
	}
	return res
}

// FullRewrite is the strategy of the original DCFW (which replaced a
// container's whole filter table with iptables-restore on every event),
// as a reconcile.Firewall: Apply deletes `table inet dcfw` and writes it
// again from scratch, whatever is there, on one netlink connection. The
// deletion is one batch and the new table another (nft.Conn.Remove, then
// nft.Conn.Apply on the now empty namespace): the original's
// iptables-restore was one transaction; two batches cost one more round
// trip, which the measurement includes.
type FullRewrite struct{}

var _ reconcile.Firewall = FullRewrite{}

// Apply implements reconcile.Firewall. The Result is Apply's, with the
// deletion's write added to Writes. known is ignored: the original
// rewrote whatever was there.
func (FullRewrite) Apply(ns reconcile.Namespace, desired *nft.Table, dryRun bool, _ nft.Generation) (nft.Result, error) {
	conn, err := nft.Dial(ns.Fd())
	if err != nil {
		return nft.Result{}, fmt.Errorf("netlink in %s: %w", ns.ID(), err)
	}
	defer conn.Close()
	rm, err := conn.Remove(dryRun)
	if err != nil {
		return nft.Result{}, fmt.Errorf("full rewrite: delete the table: %w", err)
	}
	res, err := conn.Apply(desired, dryRun)
	if err != nil {
		return nft.Result{}, fmt.Errorf("full rewrite: write the table: %w", err)
	}
	res.Writes += rm.Writes
	return res, nil
}

// Remove implements reconcile.Firewall.
func (FullRewrite) Remove(ns reconcile.Namespace, dryRun bool) (nft.Result, error) {
	return reconcile.NFTFirewall{}.Remove(ns, dryRun)
}
