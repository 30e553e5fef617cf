package nft

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/dcfw/dcfw/labels"
)

// namesBenchPolicy uses n names in output allow rules, each with two
// addresses per family: a container that talks to n services by name.
func namesBenchPolicy(n int) (labels.Policy, func(shift int) NameAddrs) {
	var rules []labels.Rule
	for i := range n {
		rules = append(rules, labels.Rule{Action: labels.Allow, Proto: labels.TCP,
			To: labels.Endpoint{Names: []string{fmt.Sprintf("svc%d", i)}, Ports: ports("443")}})
	}
	addrs := func(shift int) NameAddrs {
		m := NameAddrs{}
		for i := range n {
			m[fmt.Sprintf("svc%d", i)] = []netip.Addr{
				netip.AddrFrom4([4]byte{10, 1, byte(i), byte(1 + shift)}), netip.AddrFrom4([4]byte{10, 1, byte(i), 100}),
				netip.MustParseAddr(fmt.Sprintf("fd00:1::%x:%x", i, 1+shift)), netip.MustParseAddr(fmt.Sprintf("fd00:1::%x:100", i)),
			}
		}
		return m
	}
	return enabled(labels.Deny, labels.Deny, nil, rules), addrs
}

// BenchmarkApplyNamesNoChange: a cycle of a container whose rules use 8
// and 32 (labels.MaxNamesPerContainer) names, addresses unchanged: read
// the chains and every set, compare, write nothing.
func BenchmarkApplyNamesNoChange(b *testing.B) {
	for _, n := range []int{8, labels.MaxNamesPerContainer} {
		b.Run(fmt.Sprintf("%dnames", n), func(b *testing.B) {
			c := benchConn(b)
			pol, addrs := namesBenchPolicy(n)
			tbl, err := CompileNames(pol, testID, addrs(0))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Apply(tbl, false); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if res, err := c.Apply(tbl, false); err != nil || res.Changed() {
					b.Fatal(res, err)
				}
			}
		})
	}
}

// BenchmarkApplyNameAddressChange: one address of every name changes per
// cycle (both families): one batch of element changes, no chain written.
func BenchmarkApplyNameAddressChange(b *testing.B) {
	c := benchConn(b)
	pol, addrs := namesBenchPolicy(8)
	var tables [2]*Table
	for i := range tables {
		var err error
		if tables[i], err = CompileNames(pol, testID, addrs(i)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := c.Apply(tables[0], false); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		res, err := c.Apply(tables[i%2], false)
		if err != nil || len(res.Chains) != 0 || len(res.Sets) != 16 {
			b.Fatal(res, err)
		}
	}
}
