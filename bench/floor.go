package bench

import (
	"github.com/dcfw/dcfw/nft"
	"github.com/dcfw/dcfw/reconcile"
)

// The firewalls below are NOT strategies dcfw has: they write nothing and
// check nothing. They measure what is left of a steady cycle when the
// firewall's part shrinks, to show where the time of a cycle goes (see
// BENCHMARKS.md).

// NoFirewall does nothing: a cycle with it costs the controller's own work
// (list, open each namespace, parse labels, compile, fingerprint) and
// nothing of the firewall's.
type NoFirewall struct{}

var _ reconcile.Firewall = NoFirewall{}

// Apply implements reconcile.Firewall.
func (NoFirewall) Apply(reconcile.Namespace, *nft.Table, bool, nft.Generation) (nft.Result, error) {
	return nft.Result{}, nil
}

// Remove implements reconcile.Firewall.
func (NoFirewall) Remove(reconcile.Namespace, bool) (nft.Result, error) { return nft.Result{}, nil }

// GenerationOnly dials the namespace (nft.Dial) and asks for its nf_tables
// generation ID, one request, and nothing else. dcfw's steady cycle does
// this too (nft.Conn.ApplyKnown skips the read while the generation is the
// one it remembers), and lists the namespace's interfaces; this measures
// that request alone, without the remembering and the listing.
type GenerationOnly struct{}

var _ reconcile.Firewall = GenerationOnly{}

// Apply implements reconcile.Firewall.
func (GenerationOnly) Apply(ns reconcile.Namespace, _ *nft.Table, _ bool, _ nft.Generation) (nft.Result, error) {
	_, err := Generation(ns.Fd())
	return nft.Result{}, err
}

// Remove implements reconcile.Firewall.
func (GenerationOnly) Remove(ns reconcile.Namespace, _ bool) (nft.Result, error) {
	_, err := Generation(ns.Fd())
	return nft.Result{}, err
}

// Generation returns the nf_tables generation ID of the namespace nsFd, on
// a connection of its own (as each Apply of dcfw's dials one).
func Generation(nsFd int) (uint32, error) {
	c, err := nft.Dial(nsFd)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.Generation()
}
