package reconcile

import (
	"fmt"

	"github.com/dcfw/dcfw/nft"
)

// Firewall reads and writes dcfw's table inside one network namespace.
// Each call is one atomic change (one netlink batch): the kernel applies it
// entirely or not at all.
type Firewall interface {
	// Apply makes the live table in ns equal to desired, writing only what
	// differs, and reports what differed. With dryRun it only reports.
	// known is the Result.Generation of the last Apply of the same desired
	// table to the same namespace incarnation (the zero value: none); while
	// the namespace's generation is still that one, Apply reads and writes
	// nothing (Result.Skipped). See nft.Conn.ApplyKnown.
	Apply(ns Namespace, desired *nft.Table, dryRun bool, known nft.Generation) (nft.Result, error)
	// Remove deletes dcfw's table from ns if it is there.
	Remove(ns Namespace, dryRun bool) (nft.Result, error)
}

// NFTFirewall is the Firewall on package nft: one netlink connection bound
// to the namespace per call.
type NFTFirewall struct{}

var _ Firewall = NFTFirewall{}

// Apply implements Firewall.
func (NFTFirewall) Apply(ns Namespace, desired *nft.Table, dryRun bool, known nft.Generation) (nft.Result, error) {
	conn, err := nft.Dial(ns.Fd())
	if err != nil {
		return nft.Result{}, fmt.Errorf("netlink in %s: %w", ns.ID(), err)
	}
	defer conn.Close()
	return conn.ApplyKnown(desired, dryRun, known)
}

// Remove implements Firewall.
func (NFTFirewall) Remove(ns Namespace, dryRun bool) (nft.Result, error) {
	conn, err := nft.Dial(ns.Fd())
	if err != nil {
		return nft.Result{}, fmt.Errorf("netlink in %s: %w", ns.ID(), err)
	}
	defer conn.Close()
	return conn.Remove(dryRun)
}
