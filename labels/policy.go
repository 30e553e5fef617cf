package labels

import (
	"net/netip"
)

// State says whether dcfw manages a container, from its dcfw.enable label.
type State uint8

const (
	// Unmanaged: no dcfw.enable label. dcfw has no opinion about the container.
	Unmanaged State = iota
	// Disabled: dcfw.enable is false. A dcfw table in the namespace is removed.
	Disabled
	// Enabled: dcfw.enable is true. The namespace gets the policy's table.
	Enabled
)

// Action is what a rule or a chain policy does with a matching packet.
type Action uint8

const (
	Allow Action = iota + 1
	Deny
	Reject
)

// Family is the IP family a rule applies to. It is derived from the rule's
// addresses and protocol, never written by the user.
type Family uint8

const (
	// BothFamilies: no address or only `any`, and no family-specific protocol.
	BothFamilies Family = iota
	IPv4
	IPv6
)

// Protocol is an IP protocol number (IPv4 protocol / IPv6 next header), or
// AnyProtocol. It is a signed type so that 0 (HOPOPT) stays a valid number.
type Protocol int16

// AnyProtocol matches every protocol. A rule with ports and AnyProtocol
// matches TCP and UDP (see Rule.Protocols).
const AnyProtocol Protocol = -1

// Well-known protocol numbers the grammar names.
const (
	ICMP    Protocol = 1
	IGMP    Protocol = 2
	TCP     Protocol = 6
	UDP     Protocol = 17
	DCCP    Protocol = 33
	GRE     Protocol = 47
	ESP     Protocol = 50
	AH      Protocol = 51
	ICMPv6  Protocol = 58
	SCTP    Protocol = 132
	UDPLite Protocol = 136
)

// PortRange is an inclusive range of ports, Lo <= Hi, both in 1..65535.
// A single port has Lo == Hi.
type PortRange struct {
	Lo, Hi uint16
}

// Endpoint is one side of a rule (`from` or `to`).
// Empty Addrs and Names mean any address; empty Ports means any port. The
// endpoint matches an address of Addrs or an address a name of Names
// stands for; a name that stands for nothing matches nothing.
// In canonical form Addrs are masked, sorted and merged, Names are lower
// case without a trailing dot, sorted and unique, and Ports are sorted and
// merged (adjacent or overlapping ranges joined).
type Endpoint struct {
	Addrs []netip.Prefix
	// Names are container names, compose service names, network aliases
	// or DNS host names, resolved by the caller in the container's own
	// namespace. A name has no family: it decides nothing about the
	// rule's Family, and matches only its addresses of that family.
	Names []string
	Ports []PortRange
}

// Rule is one parsed and validated `dcfw.<dir>.rule.N` label, in canonical form.
type Rule struct {
	// Label is the key the rule came from (e.g. "dcfw.input.rule.1"). It is
	// not part of the rule's grammar: String() does not print it.
	Label   string
	Action  Action
	Log     bool
	Iface   string // "" = any interface; a trailing '*' is a prefix wildcard
	Proto   Protocol
	Family  Family
	From    Endpoint
	To      Endpoint
	Comment string
}

// Chain is the configuration of one direction.
type Chain struct {
	Policy Action
	Rules  []Rule // in ascending order of their label number
}

// Policy is the whole dcfw configuration of one container.
type Policy struct {
	State  State
	Input  Chain
	Output Chain
}
