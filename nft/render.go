package nft

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// String renders the table in nft syntax, the way `nft list table inet
// dcfw` (nft 1.0.x) prints it, so golden files, logs and the live kernel
// read alike. Like nft, it leaves out matches that another match implies
// (`meta nfproto ipv4` before `ip saddr`, `meta l4proto tcp` before
// `tcp dport`, `meta nfproto ipv4` before `meta l4proto icmp`).
//
// Differences from nft: protocol numbers without a name in the rule grammar
// print as numbers (nft prints names from /etc/protocols); a single ICMP
// type prints as a number (nft prints its name; dcfw only makes ranges);
// a rule dcfw does not make prints as a comment line naming its
// expressions. A nil table renders as "".
func (t *Table) String() string {
	if t == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("table inet " + TableName + " {\n")
	if t.Flags != 0 {
		b.WriteString("\tflags " + tableFlags(t.Flags) + "\n")
		if len(t.Chains) > 0 {
			b.WriteString("\n")
		}
	}
	for i, s := range t.Sets {
		if i > 0 {
			b.WriteString("\n")
		}
		s.write(&b)
	}
	for i, c := range t.Chains {
		if i > 0 || len(t.Sets) > 0 {
			b.WriteString("\n")
		}
		c.write(&b)
	}
	b.WriteString("}\n")
	if t.Egress != nil {
		e := *t.Egress
		e.Egress = nil
		b.WriteString(strings.Replace(e.String(), "table inet ", "table netdev ", 1))
	}
	return b.String()
}

func tableFlags(f uint32) string {
	var names []string
	if f&1 != 0 { // NFT_TABLE_F_DORMANT
		names = append(names, "dormant")
		f &^= 1
	}
	if f&2 != 0 { // NFT_TABLE_F_OWNER
		names = append(names, "owner")
		f &^= 2
	}
	if f != 0 {
		names = append(names, "0x"+strconv.FormatUint(uint64(f), 16))
	}
	return strings.Join(names, ",")
}

// String renders the chain as nft lists it inside its table.
func (c *Chain) String() string {
	var b strings.Builder
	c.write(&b)
	return b.String()
}

func (c *Chain) write(b *strings.Builder) {
	b.WriteString("\tchain " + c.Name + " {\n")
	if c.Base {
		hook := hookName(c.Hook)
		if c.Device != "" {
			hook = netdevHookName(c.Hook) + " device " + strconv.Quote(c.Device)
		}
		b.WriteString("\t\ttype " + c.Type + " hook " + hook + " priority " + priorityName(c.Priority) +
			"; policy " + c.Policy.String() + ";\n")
	}
	for i := range c.Rules {
		b.WriteString("\t\t" + c.Rules[i].String() + "\n")
	}
	b.WriteString("\t}\n")
}

func hookName(h Hook) string {
	switch h {
	case 0:
		return "prerouting"
	case HookInput:
		return "input"
	case 2:
		return "forward"
	case HookOutput:
		return "output"
	case 4:
		return "postrouting"
	case 5:
		return "ingress"
	}
	return strconv.FormatUint(uint64(h), 10)
}

func netdevHookName(h Hook) string {
	switch h {
	case 0:
		return "ingress"
	case HookEgress:
		return "egress"
	}
	return strconv.FormatUint(uint64(h), 10)
}

// priorityName prints a chain priority like nft: a standard name, or
// "filter + n".
func priorityName(p int32) string {
	switch p {
	case -300:
		return "raw"
	case -150:
		return "mangle"
	case 0:
		return "filter"
	case 50:
		return "security"
	}
	if p > 0 {
		return "filter + " + strconv.Itoa(int(p))
	}
	return "filter - " + strconv.FormatInt(-int64(p), 10)
}

func (p Policy) String() string {
	switch p {
	case PolicyDrop:
		return "drop"
	case PolicyAccept:
		return "accept"
	}
	return strconv.FormatUint(uint64(p), 10)
}

// protoNames are the names nft prints for the protocols of the rule grammar.
var protoNames = map[int16]string{
	1:   "icmp",
	2:   "igmp",
	6:   "tcp",
	17:  "udp",
	33:  "dccp",
	47:  "gre",
	50:  "esp",
	51:  "ah",
	58:  "ipv6-icmp",
	132: "sctp",
	136: "udplite",
}

func protoName(p int16) string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}

// String renders one rule in nft syntax (without indentation).
func (r *Rule) String() string {
	r = r.resolved()
	var w []string
	if r.live.isForeign() {
		w = append(w, "# not a dcfw rule:", strings.Join(r.live.foreign, " "))
		if r.Handle != 0 {
			w = append(w, "# handle "+strconv.FormatUint(r.Handle, 10))
		}
		if r.Comment != "" {
			w = append(w, "comment", strconv.Quote(r.Comment))
		}
		return strings.Join(w, " ")
	}
	if r.Iif != 0 {
		w = append(w, "iif", ifindexName(r.Iif))
	}
	if r.Oif != 0 {
		w = append(w, "oif", ifindexName(r.Oif))
	}
	if !r.IifName.IsZero() {
		w = append(w, "iifname", ifaceName(r.IifName))
	}
	if !r.OifName.IsZero() {
		w = append(w, "oifname", ifaceName(r.OifName))
	}
	if r.CtDirection == CtReply {
		w = append(w, "ct direction reply")
	}
	if r.CtState != 0 {
		w = append(w, "ct state", ctStateNames(r.CtState))
	}
	if r.CtUnconfirmed {
		w = append(w, "ct status ! confirmed")
	}
	if r.ConnMark == MatchMark {
		w = append(w, "ct mark", markValue(r.CtMark, "$conn_mark"))
	}
	if r.EtherType != 0 {
		// Raw payload syntax, as nft prints a link-layer match without
		// its `meta iiftype` dependency (see encode).
		w = append(w, fmt.Sprintf("@ll,96,16 0x%x", r.EtherType))
	}
	if r.RawMark == MatchMark {
		w = append(w, "meta mark", markValue(r.Mark, "$raw_mark"), "meta priority", priorityValue(r.Priority, "$raw_priority"))
	}
	hasAddr := isAddr(r.Saddr) || isAddr(r.Daddr) || r.SaddrSet != "" || r.DaddrSet != ""
	familyICMP := (r.Family == IPv4 && r.L4Proto == protoICMP) || (r.Family == IPv6 && r.L4Proto == protoICMPv6)
	if r.Family != AnyFamily && !hasAddr && !familyICMP {
		w = append(w, "meta nfproto", familyName(r.Family))
	}
	ipName := "ip"
	if r.Family == IPv6 {
		ipName = "ip6"
	}
	if isAddr(r.Saddr) {
		w = append(w, ipName, "saddr", prefixString(r.Saddr))
	}
	if r.SaddrSet != "" {
		w = append(w, ipName, "saddr", "@"+r.SaddrSet)
	}
	if isAddr(r.Daddr) {
		w = append(w, ipName, "daddr", prefixString(r.Daddr))
	}
	if r.DaddrSet != "" {
		w = append(w, ipName, "daddr", "@"+r.DaddrSet)
	}
	l4Implied := !r.Sport.IsZero() || !r.Dport.IsZero() || !r.ICMPType.IsZero()
	if r.L4Proto != NoProto && !l4Implied {
		w = append(w, "meta l4proto", protoName(r.L4Proto))
	}
	if !r.Sport.IsZero() {
		w = append(w, protoName(r.L4Proto), "sport", rangeString(r.Sport))
	}
	if !r.Dport.IsZero() {
		w = append(w, protoName(r.L4Proto), "dport", rangeString(r.Dport))
	}
	if !r.ICMPType.IsZero() {
		name := "icmp"
		if r.L4Proto == protoICMPv6 {
			name = "icmpv6"
		}
		w = append(w, name, "type", rangeString(r.ICMPType))
	}
	if r.Limit != nil {
		w = append(w, limitString(r.Limit))
	}
	if r.Log != nil {
		w = append(w, "log prefix", `"`+r.Log.Prefix+`"`)
		if r.Log.ToGroup {
			w = append(w, "group", strconv.Itoa(int(r.Log.Group)))
		}
	}
	if r.ConnMark == SetMark {
		w = append(w, "ct mark set", markValue(r.CtMark, "$conn_mark"))
	}
	switch r.RawMark {
	case SetMark:
		w = append(w, "meta mark set", markValue(r.Mark, "$raw_mark"), "meta priority set", priorityValue(r.Priority, "$raw_priority"))
	case MatchMark, ClearMark:
		w = append(w, "meta mark set 0x00000000 meta priority set none")
	}
	switch r.Verdict {
	case Accept:
		w = append(w, "accept")
	case Drop:
		w = append(w, "drop")
	case RejectTCPReset:
		w = append(w, "reject with tcp reset")
	case RejectPortUnreachable:
		w = append(w, "reject")
	}
	if r.Comment != "" {
		// nft prints comments between plain double quotes, without
		// escaping; so do we.
		w = append(w, "comment", `"`+r.Comment+`"`)
	}
	return strings.Join(w, " ")
}

func isAddr(p netip.Prefix) bool { return p.IsValid() && p.Bits() > 0 }

func prefixString(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

func familyName(f Family) string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return strconv.Itoa(int(f))
}

// ifindexName prints an interface index as nft does for loopback (index 1
// in every namespace); other indexes print as numbers.
func ifindexName(i uint32) string {
	if i == 1 {
		return `"lo"`
	}
	return strconv.FormatUint(uint64(i), 10)
}

func ifaceName(i Iface) string {
	if i.Prefix {
		return `"` + i.Name + `*"`
	}
	return `"` + i.Name + `"`
}

var ctStateOrder = []struct {
	bit  CtState
	name string
}{
	{CtInvalid, "invalid"},
	{CtEstablished, "established"},
	{CtRelated, "related"},
	{CtNew, "new"},
	{CtUntracked, "untracked"},
}

func ctStateNames(s CtState) string {
	var names []string
	for _, st := range ctStateOrder {
		if s&st.bit != 0 {
			names = append(names, st.name)
			s &^= st.bit
		}
	}
	if s != 0 {
		names = append(names, "0x"+strconv.FormatUint(uint64(s), 16))
	}
	return strings.Join(names, ",")
}

func rangeString(r Range) string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return strconv.Itoa(int(r.Lo)) + "-" + strconv.Itoa(int(r.Hi))
}

func limitString(l *Limit) string {
	unit := map[LimitUnit]string{PerSecond: "second", PerMinute: "minute", PerHour: "hour", PerDay: "day", 7 * PerDay: "week"}[l.Unit]
	if unit == "" {
		unit = strconv.FormatUint(uint64(l.Unit), 10) + "s"
	}
	s := "limit rate " + strconv.FormatUint(l.Rate, 10) + "/" + unit
	// nft leaves out the default burst of 5.
	if l.Burst != 0 && l.Burst != 5 {
		s += " burst " + strconv.FormatUint(uint64(l.Burst), 10) + " packets"
	}
	return s
}

// markValue prints a mark as nft does; 0, the value of a compiled table
// (Apply fills in the namespace's), prints as the variable name.
func markValue(v uint32, placeholder string) string {
	if v == 0 {
		return placeholder
	}
	return fmt.Sprintf("0x%08x", v)
}

// priorityValue prints an skb priority as nft does: a tc handle
// (major:minor in hex).
func priorityValue(v uint32, placeholder string) string {
	switch v {
	case 0:
		return placeholder
	case 0xffffffff:
		return "root"
	}
	return fmt.Sprintf("%x:%x", v>>16, v&0xffff)
}
