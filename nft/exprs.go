package nft

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// This file turns a Rule into the kernel expressions of a rule, in the same
// shape the nft tool generates for the equivalent rule text, so that
// `nft list table inet dcfw` shows the rules the way Table.String does.
//
// Order of the expressions (each part present only when the field is set):
//
//	meta iif, meta oif, meta iifname, meta oifname   interface
//	ct direction                                   direction in the connection
//	ct state, ct status ! confirmed                conntrack state
//	ct mark ==                                     the ruleset's conntrack mark
//	ether type                                     ethertype (netdev)
//	meta mark ==, meta priority ==                 the raw-frame secret
//	meta nfproto                                   family
//	ip/ip6 saddr [@set], ip/ip6 daddr [@set]       addresses, or set lookups
//	meta l4proto                                   protocol
//	th sport, th dport | icmp type                 ports / ICMP type
//	limit, log                                     logging
//	ct mark set                                    the ruleset's conntrack mark
//	meta mark set, meta priority set               stamp or clear the secret
//	immediate verdict | reject                     verdict
//
// Everything loads into register 1 (NFT_REG_1) and is compared at once.

const reg1 = unix.NFT_REG_1

// Offsets in the IPv4 and IPv6 headers of the source and destination address.
const (
	ip4SaddrOffset = 12
	ip4DaddrOffset = 16
	ip6SaddrOffset = 8
	ip6DaddrOffset = 24
)

// ifNameSize is IFNAMSIZ: the kernel loads interface names as 16 bytes,
// NUL padded. An exact name is compared over all 16 bytes (as nft does); a
// wildcard compares only the prefix bytes.
const ifNameSize = 16

// encode returns the expressions of r. r must not be foreign.
func (r *Rule) encode() []expr.Any {
	var es []expr.Any
	if r.Iif != 0 {
		es = append(es, metaLoad(expr.MetaKeyIIF), cmpEq(binaryutil.NativeEndian.PutUint32(r.Iif)))
	}
	if r.Oif != 0 {
		es = append(es, metaLoad(expr.MetaKeyOIF), cmpEq(binaryutil.NativeEndian.PutUint32(r.Oif)))
	}
	if !r.IifName.IsZero() {
		es = append(es, metaLoad(expr.MetaKeyIIFNAME), cmpEq(ifaceBytes(r.IifName)))
	}
	if !r.OifName.IsZero() {
		es = append(es, metaLoad(expr.MetaKeyOIFNAME), cmpEq(ifaceBytes(r.OifName)))
	}
	if r.CtDirection == CtReply {
		es = append(es, &expr.Ct{Key: expr.CtKeyDIRECTION, Register: reg1}, cmpEq([]byte{1})) // IP_CT_DIR_REPLY
	}
	if r.CtState != 0 {
		es = append(es,
			&expr.Ct{Key: expr.CtKeySTATE, Register: reg1},
			&expr.Bitwise{
				SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(uint32(r.CtState)),
				Xor:  make([]byte, 4),
			},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: make([]byte, 4)},
		)
	}
	if r.CtUnconfirmed {
		es = append(es,
			&expr.Ct{Key: expr.CtKeySTATUS, Register: reg1},
			&expr.Bitwise{
				SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(ipsConfirmed),
				Xor:  make([]byte, 4),
			},
			cmpEq(make([]byte, 4)),
		)
	}
	if r.ConnMark == MatchMark {
		es = append(es, &expr.Ct{Key: expr.CtKeyMARK, Register: reg1}, cmpEq(binaryutil.NativeEndian.PutUint32(r.CtMark)))
	}
	if r.EtherType != 0 {
		// Without nft's `meta iiftype ether` dependency: the egress hook
		// has no input device, so that match would never be true there.
		es = append(es,
			&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: reg1, Base: expr.PayloadBaseLLHeader, Offset: 12, Len: 2},
			cmpEq(binary.BigEndian.AppendUint16(nil, r.EtherType)),
		)
	}
	if r.RawMark == MatchMark {
		es = append(es,
			metaLoad(expr.MetaKeyMARK), cmpEq(binaryutil.NativeEndian.PutUint32(r.Mark)),
			metaLoad(expr.MetaKeyPRIORITY), cmpEq(binaryutil.NativeEndian.PutUint32(r.Priority)),
		)
	}
	if r.Family != AnyFamily {
		es = append(es, metaLoad(expr.MetaKeyNFPROTO), cmpEq([]byte{byte(r.Family)}))
	}
	es = appendAddr(es, r.Saddr, true)
	es = appendSetLookup(es, r.Family, r.SaddrSet, true)
	es = appendAddr(es, r.Daddr, false)
	es = appendSetLookup(es, r.Family, r.DaddrSet, false)
	if r.L4Proto != NoProto {
		es = append(es, metaLoad(expr.MetaKeyL4PROTO), cmpEq([]byte{byte(r.L4Proto)}))
	}
	es = appendRange(es, r.Sport, 0, 2)
	es = appendRange(es, r.Dport, 2, 2)
	es = appendRange(es, r.ICMPType, 0, 1)
	if r.Limit != nil {
		es = append(es, &expr.Limit{
			Type:  expr.LimitTypePkts,
			Rate:  r.Limit.Rate,
			Unit:  expr.LimitTime(r.Limit.Unit),
			Burst: r.Limit.Burst,
		})
	}
	if r.Log != nil && r.Log.ToGroup {
		// No level: the kernel refuses a level together with a group.
		es = append(es, &expr.Log{
			Key:   1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_GROUP,
			Group: r.Log.Group,
			Data:  []byte(r.Log.Prefix),
		})
	} else if r.Log != nil {
		// The kernel reports the level even when it was not sent (default
		// warn), so it is sent explicitly: what we write then reads back
		// the same.
		es = append(es, &expr.Log{
			Key:   1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_LEVEL,
			Level: expr.LogLevelWarning,
			Data:  []byte(r.Log.Prefix),
		})
	}
	if r.ConnMark == SetMark {
		es = append(es, immediate(r.CtMark), &expr.Ct{Key: expr.CtKeyMARK, Register: reg1, SourceRegister: true})
	}
	switch r.RawMark {
	case SetMark:
		es = append(es, metaSet(expr.MetaKeyMARK, r.Mark)...)
		es = append(es, metaSet(expr.MetaKeyPRIORITY, r.Priority)...)
	case MatchMark, ClearMark:
		es = append(es, metaSet(expr.MetaKeyMARK, 0)...)
		es = append(es, metaSet(expr.MetaKeyPRIORITY, 0)...)
	}
	switch r.Verdict {
	case Accept:
		es = append(es, &expr.Verdict{Kind: expr.VerdictAccept})
	case Drop:
		es = append(es, &expr.Verdict{Kind: expr.VerdictDrop})
	case RejectTCPReset:
		es = append(es, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	case RejectPortUnreachable:
		es = append(es, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH})
	}
	return es
}

// userData returns the rule's userdata: its comment, as nft stores it.
func (r *Rule) userData() []byte {
	if r.Comment == "" {
		return nil
	}
	// A userdata TLV holds at most 255 bytes (with the NUL), and the kernel
	// at most 256 bytes of userdata in all.
	return userdata.AppendString(nil, userdata.TypeComment, truncate(r.Comment, 253))
}

func metaLoad(k expr.MetaKey) *expr.Meta { return &expr.Meta{Key: k, Register: reg1} }

// ipsConfirmed is IPS_CONFIRMED, the conntrack status bit of a connection
// that is in the conntrack table.
const ipsConfirmed = 1 << 3

func immediate(v uint32) *expr.Immediate {
	return &expr.Immediate{Register: reg1, Data: binaryutil.NativeEndian.PutUint32(v)}
}

// metaSet is `meta <k> set v`: the value into register 1, then the meta
// statement reading it.
func metaSet(k expr.MetaKey, v uint32) []expr.Any {
	return []expr.Any{immediate(v), &expr.Meta{Key: k, Register: reg1, SourceRegister: true}}
}

func cmpEq(b []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: b} }

func ifaceBytes(i Iface) []byte {
	if i.Prefix {
		return []byte(i.Name)
	}
	b := make([]byte, ifNameSize)
	copy(b, i.Name)
	return b
}

// appendAddr appends the match of an address prefix. Like nft, a prefix on
// a byte boundary loads only its bytes; any other length loads the whole
// address and masks it. A zero-length prefix matches everything and adds
// nothing.
func appendAddr(es []expr.Any, p netip.Prefix, src bool) []expr.Any {
	if !p.IsValid() || p.Bits() == 0 {
		return es
	}
	p = p.Masked()
	addr := p.Addr().AsSlice()
	var offset uint32
	switch {
	case p.Addr().Is4() && src:
		offset = ip4SaddrOffset
	case p.Addr().Is4():
		offset = ip4DaddrOffset
	case src:
		offset = ip6SaddrOffset
	default:
		offset = ip6DaddrOffset
	}
	bits := p.Bits()
	if bits%8 == 0 {
		n := uint32(bits / 8)
		return append(es,
			&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: n},
			cmpEq(addr[:n]),
		)
	}
	n := uint32(len(addr))
	return append(es,
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: n},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: n, Mask: prefixMask(bits, int(n)), Xor: make([]byte, n)},
		cmpEq(addr),
	)
}

// prefixMask returns n bytes with the first bits bits set.
func prefixMask(bits, n int) []byte {
	m := make([]byte, n)
	for i := 0; i < bits; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// appendRange appends the match of a port or type range at offset (of size
// bytes) in the transport header: one compare for a single value, >= and <=
// for a range (as nft does).
func appendRange(es []expr.Any, r Range, offset, size uint32) []expr.Any {
	if r.IsZero() {
		return es
	}
	val := func(v uint16) []byte {
		if size == 1 {
			return []byte{byte(v)}
		}
		return binary.BigEndian.AppendUint16(nil, v)
	}
	es = append(es, &expr.Payload{
		OperationType: expr.PayloadLoad, DestRegister: reg1,
		Base: expr.PayloadBaseTransportHeader, Offset: offset, Len: size,
	})
	if r.Lo == r.Hi {
		return append(es, cmpEq(val(r.Lo)))
	}
	return append(es,
		&expr.Cmp{Op: expr.CmpOpGte, Register: reg1, Data: val(r.Lo)},
		&expr.Cmp{Op: expr.CmpOpLte, Register: reg1, Data: val(r.Hi)},
	)
}
