package labels

import (
	"strconv"
	"strings"
)

// protocolNames are the names the grammar accepts, in the order they are
// offered as suggestions. Other protocols are written as numbers.
var protocolNames = []struct {
	name  string
	proto Protocol
}{
	{"tcp", TCP},
	{"udp", UDP},
	{"icmp", ICMP},
	{"icmpv6", ICMPv6},
	{"igmp", IGMP},
	{"sctp", SCTP},
	{"udplite", UDPLite},
	{"dccp", DCCP},
	{"esp", ESP},
	{"ah", AH},
	{"gre", GRE},
}

// protocolAliases are other tools' spellings, offered as suggestions only:
// the grammar keeps one name per protocol.
var protocolAliases = map[string]string{
	"icmp6":     "icmpv6",
	"ipv6-icmp": "icmpv6",
	"ipv6icmp":  "icmpv6",
	"udp-lite":  "udplite",
	"ip":        "any",
}

// String is the protocol's name in the grammar, its number when it has no
// name there, or "any".
func (p Protocol) String() string {
	if p == AnyProtocol {
		return "any"
	}
	for _, n := range protocolNames {
		if n.proto == p {
			return n.name
		}
	}
	return strconv.Itoa(int(p))
}

// HasPorts reports whether packets of p carry port numbers that a `port`
// clause can match: TCP, UDP, SCTP, UDP-Lite and DCCP. AnyProtocol reports
// true, because a rule with ports and no protocol matches TCP and UDP.
func (p Protocol) HasPorts() bool {
	switch p {
	case AnyProtocol, TCP, UDP, SCTP, UDPLite, DCCP:
		return true
	}
	return false
}

// Family is the IP family p exists in: IPv4 for ICMP and IGMP, IPv6 for
// ICMPv6, BothFamilies for everything else.
func (p Protocol) Family() Family {
	switch p {
	case ICMP, IGMP:
		return IPv4
	case ICMPv6:
		return IPv6
	}
	return BothFamilies
}

// parseProtocol reads a protocol name (any case), a number 0..255 or "any".
// A number that has a name is the same protocol as the name: Protocol is
// just the number. "all" is accepted as "any": it is iptables' word, which
// the original DCFW passed through, so old labels may have it.
func parseProtocol(s string) (Protocol, string, string) {
	lower := strings.ToLower(s)
	if lower == "any" || lower == "all" {
		return AnyProtocol, "", ""
	}
	for _, n := range protocolNames {
		if n.name == lower {
			return n.proto, "", ""
		}
	}
	if isDigits(s) {
		n, ok := parseDecimal(s, 255)
		if !ok {
			return 0, "protocol number " + SafeText(s, maxQuotedToken) + " out of range", ""
		}
		return Protocol(n), "", ""
	}
	names := make([]string, 0, len(protocolNames)+1)
	for _, n := range protocolNames {
		names = append(names, n.name)
	}
	names = append(names, "any")
	return 0, "unknown protocol " + quoteTok(s), suggest(s, names, protocolAliases)
}

// isDigits reports whether s is a non-empty run of ASCII decimal digits: no
// sign, no spaces, no underscores, no base prefix.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseDecimal parses a string of digits (leading zeros allowed, any length)
// and reports whether its value is at most limit.
func parseDecimal(s string, limit uint64) (uint64, bool) {
	s = strings.TrimLeft(s, "0")
	if len(s) > 20 {
		return 0, false
	}
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > limit {
		return 0, false
	}
	return n, true
}
