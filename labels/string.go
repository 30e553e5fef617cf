package labels

import (
	"strconv"
	"strings"
)

// String is the policy word: "allow", "deny" or "reject".
func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	case Reject:
		return "reject"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// String is "IPv4", "IPv6" or "both".
func (f Family) String() string {
	switch f {
	case BothFamilies:
		return "both"
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// String is "unmanaged", "disabled" or "enabled".
func (s State) String() string {
	switch s {
	case Unmanaged:
		return "unmanaged"
	case Disabled:
		return "disabled"
	case Enabled:
		return "enabled"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// String prints the endpoint as the grammar writes it after from or to:
// "ADDRS" or "ADDRS port PORTS", with "any" for no addresses.
func (e Endpoint) String() string {
	s := formatAddrs(e.Addrs, e.Names)
	if len(e.Ports) > 0 {
		s += " port " + formatPorts(e.Ports)
	}
	return s
}

// IsAny reports whether the endpoint matches every address and port.
func (e Endpoint) IsAny() bool { return len(e.Addrs) == 0 && len(e.Names) == 0 && len(e.Ports) == 0 }

// String prints the rule in the grammar, in canonical clause order:
//
//	ACTION [log] [on IFACE] [proto PROTO] [from ADDRS [port PORTS]] [to ADDRS [port PORTS]] [comment TEXT]
//
// Parsing the result gives a rule equal to r (the Label aside, which is not
// part of the grammar) when r is in canonical form, as ParseRule and Parse
// return it.
func (r Rule) String() string {
	parts := []string{r.Action.String()}
	if r.Log {
		parts = append(parts, "log")
	}
	if r.Iface != "" {
		parts = append(parts, "on", r.Iface)
	}
	if r.Proto != AnyProtocol {
		parts = append(parts, "proto", r.Proto.String())
	}
	if !r.From.IsAny() {
		parts = append(parts, "from", r.From.String())
	}
	if !r.To.IsAny() {
		parts = append(parts, "to", r.To.String())
	}
	if r.Comment != "" {
		parts = append(parts, "comment", quoteComment(r.Comment))
	}
	return strings.Join(parts, " ")
}

// Protocols is how the rule's protocol is to be matched: nil for every
// protocol, otherwise the protocols to match, one rule each or as a set.
// A rule with ports and no protocol gives [TCP UDP]: `port` without `proto`
// means TCP and UDP.
func (r Rule) Protocols() []Protocol {
	switch {
	case r.Proto != AnyProtocol:
		return []Protocol{r.Proto}
	case r.HasPorts():
		return []Protocol{TCP, UDP}
	}
	return nil
}

// HasPorts reports whether the rule matches source or destination ports.
func (r Rule) HasPorts() bool { return len(r.From.Ports) > 0 || len(r.To.Ports) > 0 }
