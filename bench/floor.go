package bench

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/nft"
	"github.com/dcfw/dcfw/reconcile"
)

// The firewalls below are NOT strategies dcfw has: they write nothing and
// check nothing. They measure what is left of a steady cycle when the
// firewall's part shrinks, to show where the time of a cycle goes and
// what a cheaper check would gain (see BENCHMARKS.md).

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

// GenerationOnly opens a netfilter netlink socket in the namespace (as
// nft.Dial does) and asks for the ruleset's generation ID, one request,
// which the kernel bumps on every committed change in that namespace. A
// firewall that remembered the generation it last verified could skip
// reading and comparing the table whenever it is unchanged; this measures
// that floor.
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

// Generation returns the nf_tables generation ID of the namespace nsFd.
func Generation(nsFd int) (uint32, error) {
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsFd})
	if err != nil {
		return 0, fmt.Errorf("netlink: %w", err)
	}
	defer nl.Close()
	msgs, err := nl.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: netlink.Request,
		},
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	})
	if err != nil {
		return 0, fmt.Errorf("get generation: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, err
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, errors.New("get generation: no generation ID in the reply")
}
