package nft

import (
	"net/netip"
)

// TableName is the name of the one table dcfw owns in every namespace it
// manages: `table inet dcfw`.
const TableName = "dcfw"

// Names of the two base chains of the table.
const (
	InputChain  = "input"
	OutputChain = "output"
)

// Table is the desired, or the live, `table inet dcfw`.
//
// A compiled table (Compile, Lockdown) has exactly two base chains, input
// then output. A live table (Conn.Read) holds whatever the kernel has, in the
// kernel's order, including chains and rules dcfw never makes; Apply removes
// those.
type Table struct {
	// Flags are the table's flags as the kernel reports them (e.g.
	// NFT_TABLE_F_DORMANT, which switches every chain of the table off).
	// Always 0 in a compiled table.
	Flags  uint32
	Chains []*Chain
	// Sets are the named address sets of the table, one per name and
	// family the rules match (see sets.go), sorted by name.
	Sets []*Set

	// Egress is `table netdev dcfw`, the raw-frame filter (see raw.go);
	// nil: none wanted (or, live, none there). Compiled, it has no chains:
	// Apply gives it one egress chain per interface of the namespace
	// except lo. Live, it holds what the kernel has.
	Egress *Table

	// Secret holds the values Apply keeps in the live tables. Zero in a
	// compiled table (Apply takes the live ones or makes new ones); set in
	// a live one as far as its rules show them.
	Secret Secret

	// missing: a live Table whose inet table does not exist (only its
	// Egress does).
	missing bool
}

// Missing reports whether t is a live table whose `table inet dcfw` does
// not exist while `table netdev dcfw` (Egress) does.
func (t *Table) Missing() bool { return t != nil && t.missing }

// Chain returns the chain named name, or nil.
func (t *Table) Chain(name string) *Chain {
	if t == nil {
		return nil
	}
	for _, c := range t.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// RuleCount returns the number of kernel rules in the input and output
// chains (built-in rules included), for logs.
func (t *Table) RuleCount() (input, output int) {
	if c := t.Chain(InputChain); c != nil {
		input = len(c.Rules)
	}
	if c := t.Chain(OutputChain); c != nil {
		output = len(c.Rules)
	}
	return input, output
}

// Hook is a netfilter hook a base chain is attached to.
type Hook uint32

// Hooks dcfw uses: of the inet family (NF_INET_*), and the egress hook of
// the netdev family (NF_NETDEV_EGRESS, kernel 5.16 and later). A hook
// number means something only together with the table's family.
const (
	HookPrerouting Hook = 0
	HookInput      Hook = 1
	HookOutput     Hook = 3
	HookEgress     Hook = 1
)

// Policy is a base chain's default verdict.
type Policy uint32

// Values as in the kernel's NFTA_CHAIN_POLICY (NF_DROP, NF_ACCEPT).
const (
	PolicyDrop   Policy = 0
	PolicyAccept Policy = 1
)

// Chain is one chain of the table.
type Chain struct {
	Name string
	// Base is true for a chain attached to a hook (Type, Hook, Priority and
	// Policy are meaningful only then). dcfw only makes base chains; a
	// regular chain can only be live (someone else made it).
	Base     bool
	Type     string // "filter"
	Hook     Hook
	Priority int32 // 0 = "filter"
	Policy   Policy
	// Device is the interface a netdev chain is attached to ("" for
	// inet chains). A live chain attached to several devices has them
	// joined by commas here, which never equals a desired chain.
	Device string
	Rules  []Rule
}

// sameHook reports whether c and o are attached the same way (everything
// but policy and rules).
func (c *Chain) sameHook(o *Chain) bool {
	return c.Base == o.Base && c.Type == o.Type && c.Hook == o.Hook && c.Priority == o.Priority && c.Device == o.Device
}

// Family restricts a rule to one IP family (`meta nfproto`).
type Family uint8

// Values are the kernel's NFPROTO_* numbers.
const (
	AnyFamily Family = 0
	IPv4      Family = 2  // NFPROTO_IPV4
	IPv6      Family = 10 // NFPROTO_IPV6
)

// NoProto is Rule.L4Proto when the rule does not match a transport protocol.
const NoProto int16 = -1

// Iface matches an interface by name. The zero value matches any interface.
type Iface struct {
	// Name without the trailing '*' of a wildcard.
	Name string
	// Prefix: match every interface whose name starts with Name (`eth*`).
	Prefix bool
}

// IsZero reports whether the match is absent.
func (i Iface) IsZero() bool { return i.Name == "" }

// Range is an inclusive range of port numbers or ICMP types. The zero value
// means "no match".
type Range struct {
	Lo, Hi uint16
}

// IsZero reports whether the match is absent.
func (r Range) IsZero() bool { return r == Range{} }

// CtState is a set of conntrack states (the kernel's NF_CT_STATE_* bits).
type CtState uint32

// Conntrack state bits, as `ct state` matches them.
const (
	CtInvalid     CtState = 1
	CtEstablished CtState = 2
	CtRelated     CtState = 4
	CtNew         CtState = 8
	CtUntracked   CtState = 64
)

// CtDirection matches the direction of a packet within its connection
// (`ct direction`). The zero value does not match.
type CtDirection uint8

// CtReply: a packet of the reply direction (IP_CT_DIR_REPLY + 1 here, so
// that the zero value means "no match").
const CtReply CtDirection = 2

// MarkOp is what a rule does with the table's conntrack mark (Secret.Conn).
type MarkOp uint8

const (
	NoMark MarkOp = iota
	// MatchMark: `ct mark == V` (or, for RawMark, `meta mark == M meta
	// priority == P`, then both set to 0).
	MatchMark
	// SetMark: `ct mark set V` right before the verdict (for RawMark:
	// `meta mark set M meta priority set P`).
	SetMark
	// ClearMark (RawMark only): `meta mark set 0 meta priority set 0`.
	ClearMark
)

// Limit is a packet rate limit (`limit rate 3/minute burst 10 packets`).
type Limit struct {
	Rate  uint64
	Unit  LimitUnit
	Burst uint32
}

// LimitUnit is the time unit of a Limit rate, in seconds.
type LimitUnit uint64

// Limit units.
const (
	PerSecond LimitUnit = 1
	PerMinute LimitUnit = 60
	PerHour   LimitUnit = 60 * 60
	PerDay    LimitUnit = 60 * 60 * 24
)

// Log is a log statement: to the kernel log (`log prefix "..."`, level
// warn), or, with ToGroup, to userspace through an NFLOG group (`log prefix
// "..." group N`; see LogToGroup).
type Log struct {
	Prefix string
	// ToGroup sends the packet to NFLOG group Group instead of the kernel
	// log (group 0 is a valid group, hence the flag).
	ToGroup bool
	Group   uint16
}

// Verdict is what a rule does with a packet that matches it.
type Verdict uint8

const (
	// Continue: no verdict, the packet goes on to the next rule (a log rule).
	Continue Verdict = iota
	Accept
	Drop
	// RejectTCPReset answers with a TCP reset (`reject with tcp reset`);
	// the rule must match TCP.
	RejectTCPReset
	// RejectPortUnreachable answers with an ICMP or ICMPv6 port-unreachable,
	// whichever fits the packet (`reject`, i.e. icmpx port-unreachable).
	RejectPortUnreachable
)

// Rule is one kernel rule. The match fields are ANDed; a zero field does not
// match anything (matches every packet). The kernel expressions are
// generated from these fields in a fixed order (see exprs.go), and rules are
// compared by those expressions and their comment.
type Rule struct {
	Iif, Oif         uint32 // interface index (`iif`/`oif`); 1 is always lo
	IifName, OifName Iface  // interface name (`iifname`/`oifname`)
	CtDirection      CtDirection
	CtState          CtState
	// CtUnconfirmed: `ct status ! confirmed`, a packet whose connection
	// is not in the conntrack table yet (a reject response is attached to
	// the connection of the packet it rejects, which is then dropped).
	CtUnconfirmed bool
	ConnMark      MarkOp // `ct mark == CtMark` (MatchMark) or `ct mark set CtMark` (SetMark)
	CtMark        uint32 // Secret.Conn; 0 in a compiled table
	EtherType     uint16 // `ether type` (netdev chains only); 0: no match
	RawMark       MarkOp // the skb mark and priority (see raw.go)
	Mark          uint32 // Secret.Mark; 0 in a compiled table
	Priority      uint32 // Secret.Priority; 0 in a compiled table
	Family        Family
	Saddr, Daddr  netip.Prefix // invalid (zero) = any
	// SaddrSet, DaddrSet: the address is in the named set of the table
	// (`ip saddr @set`); "" = no set match. Family must be IPv4 or IPv6,
	// and an address set excludes the prefix of the same side.
	SaddrSet, DaddrSet string
	L4Proto            int16 // NoProto, or an IP protocol number 0..255
	Sport, Dport       Range // needs a protocol with ports
	ICMPType           Range // needs L4Proto icmp or ipv6-icmp
	Limit              *Limit
	Log                *Log
	Verdict            Verdict
	Comment            string

	// Handle is the kernel's handle of a live rule (0 in a compiled one).
	// It is not compared.
	Handle uint64

	// live is set on a rule read from the kernel.
	live *liveInfo
}

// Foreign reports whether r is a live rule that dcfw does not make (someone
// added or altered it); its typed fields are then empty.
func (r *Rule) Foreign() bool { return r.resolved().live.isForeign() }

// liveInfo is what a rule read from the kernel carries besides its fields.
type liveInfo struct {
	// key is the comparison key of the rule the kernel holds (see key.go);
	// it is what a live rule is compared by, whatever its fields say.
	key string
	// foreign, when non-nil, marks a rule dcfw does not make: one word per
	// expression, for String.
	foreign []string
	// pending holds the dump of a rule whose fields have not been decoded
	// yet: Apply's own reads only compare keys and decode just the rules
	// it describes in Differences.
	pending *pendingDecode
}

func (l *liveInfo) isForeign() bool { return l != nil && l.foreign != nil }

type pendingDecode struct {
	raws  []rawExpr
	udata []byte
}

// portProtos are the protocols whose ports sit at offsets 0 and 2 of the
// transport header, with the name nft shows for them.
var portProtos = map[int16]string{
	6:   "tcp",
	17:  "udp",
	33:  "dccp",
	132: "sctp",
	136: "udplite",
}

// hasPorts reports whether proto has a port field.
func hasPorts(proto int16) bool {
	_, ok := portProtos[proto]
	return ok
}

// IP protocol numbers used by the compiler.
const (
	protoICMP   int16 = 1
	protoTCP    int16 = 6
	protoUDP    int16 = 17
	protoICMPv6 int16 = 58
)
