package droplog

import (
	"strconv"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nflog"
	"github.com/dcfw/dcfw/nft"
)

// Container names the container whose namespace a Reader watches: the one
// whose labels made the table (containers sharing its namespace are
// covered by the same table).
type Container struct {
	Name string
	ID   string
}

// Messages of the lines a Reader writes.
const (
	msgBlocked    = "packet blocked"
	msgLogged     = "packet logged"
	msgSuppressed = "packet lines suppressed"
)

// line is one record made readable.
type line struct {
	blocked   bool
	direction string // "in", "out"
	verdict   string // "deny", "reject", "allow"
	rule      string // label key, "lockdown", or the raw prefix of an unknown rule
	comment   string
	pkt       nflog.Packet
	pktErr    error
	iface     string
}

// describe resolves a record against the table's log rules. A prefix the
// map does not know (a record logged under a table since replaced, or a
// log rule someone else added) still shows its prefix as the rule.
func describe(rec nflog.Record, rules nft.LogRules, ifname func(uint32) string) line {
	l := line{rule: rec.Prefix}
	ref, known := rules[rec.Prefix]
	switch {
	case known && ref.Chain == nft.OutputChain:
		l.direction = "out"
	case known:
		l.direction = "in"
	case rec.Hook == nflog.HookOutput || rec.Hook == nflog.HookPostrouting:
		l.direction = "out"
	default:
		l.direction = "in"
	}
	if known {
		l.comment = ref.Comment
		if ref.Lockdown {
			l.rule = "lockdown"
		} else {
			l.rule = ref.Label
		}
		switch ref.Action {
		case labels.Allow:
			l.verdict = "allow"
		case labels.Reject:
			l.verdict, l.blocked = "reject", true
		default:
			l.verdict, l.blocked = "deny", true
		}
	} else {
		l.verdict, l.blocked = "unknown", true
	}
	idx := rec.InDev
	if l.direction == "out" {
		idx = rec.OutDev
	}
	if idx != 0 {
		// An interface name is any bytes but '/', NUL and whitespace.
		l.iface = engine.SafeName(ifname(idx))
	}
	l.pkt, l.pktErr = nflog.DecodePacket(rec.Payload)
	return l
}

// Text from whoever starts a container (its name, label keys and
// comments) and prefixes of log rules dcfw did not write (a container with
// CAP_NET_ADMIN can add its own) reach the log escaped and bounded: raw, a
// newline would forge a line and an escape sequence rewrite the terminal.
const maxLoggedText = 256

// containerFields are the fields naming the container, first in every line.
func (c Container) fields() []zap.Field {
	return []zap.Field{
		zap.String("container", engine.SafeName(c.Name)),
		zap.String("id", engine.SafeName(engine.ShortID(c.ID))),
	}
}

// fields returns the line's zap fields, the container first.
func (l line) fields(c Container) []zap.Field {
	fs := append(c.fields(),
		zap.String("direction", l.direction),
		zap.String("verdict", l.verdict),
		zap.String("rule", labels.SafeText(l.rule, maxLoggedText)),
	)
	if l.comment != "" {
		fs = append(fs, zap.String("comment", labels.SafeText(l.comment, maxLoggedText)))
	}
	if l.pktErr != nil {
		return append(fs, zap.String("iface", l.iface), zap.NamedError("packet", l.pktErr))
	}
	p := l.pkt
	fs = append(fs, zap.String("proto", protoName(p.Protocol, p.Version)),
		zap.String("src", p.Src.String()), zap.String("dst", p.Dst.String()))
	if p.Ports {
		fs = append(fs, zap.Uint16("sport", p.SrcPort), zap.Uint16("dport", p.DstPort))
	}
	if p.ICMP {
		fs = append(fs, zap.Uint8("icmp_type", p.ICMPType), zap.Uint8("icmp_code", p.ICMPCode))
	}
	return append(fs, zap.String("iface", l.iface))
}

// protoName names the protocols the rule grammar names, as it spells
// them; others are numbers.
func protoName(p, version uint8) string {
	switch p {
	case nflog.ProtoTCP:
		return "tcp"
	case nflog.ProtoUDP:
		return "udp"
	case nflog.ProtoICMP:
		if version == 4 {
			return "icmp"
		}
	case nflog.ProtoICMPv6:
		if version == 6 {
			return "icmpv6"
		}
	case 2:
		return "igmp"
	case nflog.ProtoSCTP:
		return "sctp"
	case nflog.ProtoUDPLite:
		return "udplite"
	case nflog.ProtoDCCP:
		return "dccp"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 47:
		return "gre"
	}
	return strconv.Itoa(int(p))
}
