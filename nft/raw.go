package nft

import (
	"crypto/rand"
	"encoding/binary"
	"slices"
	"strings"
)

// Raw frames. A process with CAP_NET_RAW (every Docker container has it)
// can send hand-built frames through an AF_PACKET socket; they never pass
// the inet output hook, so no rule of `table inet dcfw` sees them. They do
// pass the netdev egress hook of the interface. dcfw therefore keeps a
// second table, `table netdev dcfw`, with one egress chain per interface of
// the namespace except lo (policy drop), and tells the frames the IP stack
// sent from the rest by a secret:
//
//   - chain stamp (inet, hook output, priority filter + 10, so after the
//     filter chains: only what they accepted) sets the skb mark to
//     Secret.Mark and the skb priority to Secret.Priority on every packet
//     that leaves through an interface other than lo. Every IP packet the
//     stack sends passes LOCAL_OUT, kernel-made ones too (TCP resets, ICMP
//     errors, reject responses, ND, MLD).
//   - chain egress_<dev> (netdev, hook egress device <dev>) accepts a frame
//     whose mark AND priority are the secret and sets both back to 0 in
//     the same rule, accepts ARP (the kernel sends it outside the IP stack),
//     and drops the rest: raw IPv4/IPv6, VLAN-tagged frames, every other
//     ethertype. Clearing them means nothing after the chain (packet taps,
//     the qdisc, the peer) ever sees the secret.
//   - chain unstamp (inet, hook prerouting, priority raw) sets mark and
//     priority to 0 on every packet coming in: the kernel loops copies of
//     multicast and broadcast packets it sends back to the local stack
//     after the stamp, and a socket could read their mark (SO_RCVMARK).
//
// A process with CAP_NET_RAW may set any mark and priority on its packet
// socket (SO_MARK, SO_PRIORITY), so the values must be unknown to it: 64
// random bits, readable only through nf_tables, which needs CAP_NET_ADMIN.
// They stay the same for the life of the namespace: Apply reads them back
// from the live tables and makes new ones only when none are there.

// Names of the chains of the raw-frame filter.
const (
	StampChain   = "stamp"
	UnstampChain = "unstamp"
	// EgressChainPrefix + interface name is the egress chain of an
	// interface in `table netdev dcfw`.
	EgressChainPrefix = "egress_"
)

// stampPriority puts the stamp chain after every filter chain of the
// output hook (priority filter), so only accepted packets are stamped.
const stampPriority = 10

// Priority of the unstamp chain: "raw", before anything else dcfw or
// Docker hooks into prerouting.
const unstampPriority = -300

// etherTypeARP is the ARP ethertype (ETH_P_ARP).
const etherTypeARP = 0x0806

// Comments of the raw-frame filter's rules.
const (
	commentStampLo   = "dcfw: loopback frames are not checked"
	commentStamp     = "dcfw: ip stack, secret for the egress check"
	commentUnstamp   = "dcfw: no secret on packets delivered here"
	commentEgressIP  = "dcfw: sent by the ip stack"
	commentEgressARP = "dcfw: arp"
)

// Secret is what Apply keeps in a namespace's live tables.
type Secret struct {
	// Mark and Priority are the skb mark and priority that the stamp chain
	// puts on IP-stack packets and the egress chains check and clear.
	Mark, Priority uint32
	// Conn is the conntrack mark of connections the current ruleset
	// accepted (see conntrack.go). Not secret: the container cannot set a
	// conntrack mark without CAP_NET_ADMIN; it only has to differ from any
	// earlier one.
	Conn uint32
}

// randomUint32 returns a random, non-zero value.
func randomUint32() uint32 {
	var b [4]byte
	for {
		rand.Read(b[:]) // never fails on Linux (Go 1.24+ crashes instead)
		if v := binary.NativeEndian.Uint32(b[:]); v != 0 {
			return v
		}
	}
}

// stampChains are the inet chains of the raw-frame filter.
func stampChains() []*Chain {
	return []*Chain{
		{
			Name: StampChain, Base: true, Type: "filter", Hook: HookOutput, Priority: stampPriority, Policy: PolicyAccept,
			Rules: []Rule{
				{Oif: 1, L4Proto: NoProto, Verdict: Accept, Comment: commentStampLo},
				{L4Proto: NoProto, RawMark: SetMark, Comment: commentStamp},
			},
		},
		{
			Name: UnstampChain, Base: true, Type: "filter", Hook: HookPrerouting, Priority: unstampPriority, Policy: PolicyAccept,
			Rules: []Rule{{L4Proto: NoProto, RawMark: ClearMark, Comment: commentUnstamp}},
		},
	}
}

// egressHook is the hook number of the egress chains: a variable so a test
// can ask for a hook the kernel does not have, as an old kernel would.
var egressHook = HookEgress

// EgressChain returns the egress chain of interface dev (secret zero in
// the rule until Apply fills it in).
func EgressChain(dev string) *Chain {
	return &Chain{
		Name: EgressChainPrefix + dev, Base: true, Type: "filter", Hook: egressHook, Device: dev, Policy: PolicyDrop,
		Rules: []Rule{
			{L4Proto: NoProto, RawMark: MatchMark, Verdict: Accept, Comment: commentEgressIP},
			{L4Proto: NoProto, EtherType: etherTypeARP, Verdict: Accept, Comment: commentEgressARP},
		},
	}
}

// liveSecret returns the secret values the live tables hold (0 where a
// value is not there): the conntrack mark from the first rule of input or
// output matching one, the raw mark and priority from the stamp chain,
// else from the first egress chain that has them.
func liveSecret(live *Table) Secret {
	var s Secret
	if live == nil {
		return s
	}
	find := func(chains []*Chain, ok func(r *Rule) bool) *Rule {
		for _, c := range chains {
			for i := range c.Rules {
				if r := c.Rules[i].resolved(); ok(r) {
					return r
				}
			}
		}
		return nil
	}
	filter := slices.DeleteFunc(slices.Clone(live.Chains), func(c *Chain) bool {
		return c.Name != InputChain && c.Name != OutputChain
	})
	if r := find(filter, func(r *Rule) bool { return r.ConnMark != NoMark && r.CtMark != 0 }); r != nil {
		s.Conn = r.CtMark
	}
	raw := func(r *Rule) bool {
		return (r.RawMark == SetMark || r.RawMark == MatchMark) && r.Mark != 0 && r.Priority != 0
	}
	r := find(slices.DeleteFunc(slices.Clone(live.Chains), func(c *Chain) bool { return c.Name != StampChain }), raw)
	if r == nil && live.Egress != nil {
		r = find(live.Egress.Chains, raw)
	}
	if r != nil {
		s.Mark, s.Priority = r.Mark, r.Priority
	}
	return s
}

// withSecret returns a copy of t (a compiled table) whose rules carry the
// values of s, with egress chains for devs when t wants the raw-frame
// filter. t itself is not changed.
func withSecret(t *Table, s Secret, devs []string) *Table {
	out := copyTable(t)
	out.Secret = s
	fill := func(cs []*Chain) {
		for _, c := range cs {
			for i := range c.Rules {
				r := &c.Rules[i]
				if r.ConnMark != NoMark {
					r.CtMark = s.Conn
				}
				if r.RawMark == SetMark || r.RawMark == MatchMark {
					r.Mark, r.Priority = s.Mark, s.Priority
				}
			}
		}
	}
	fill(out.Chains)
	if out.Egress != nil {
		out.Egress.Chains = nil
		for _, d := range devs {
			out.Egress.Chains = append(out.Egress.Chains, EgressChain(d))
		}
		fill(out.Egress.Chains)
	}
	return out
}

// usesConnMark reports whether the chains of t use the conntrack mark.
func usesConnMark(t *Table) bool {
	for _, c := range t.Chains {
		for i := range c.Rules {
			if c.Rules[i].ConnMark != NoMark {
				return true
			}
		}
	}
	return false
}

// linkKey is a fingerprint of the interface set, for ApplyKnown.
func linkKey(devs []string) string { return strings.Join(devs, "\x00") }
