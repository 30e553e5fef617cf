package nft

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// decode is the inverse of Rule.encode: it recognises the expression
// sequences encode generates, in encode's order, and fills a Rule. It
// reports false for anything else. It is deliberately lenient in details
// (register numbers, extra attributes): the caller re-encodes the result
// and compares keys, so a rule is only ever accepted when it is exactly
// what dcfw would write.
func decode(es []expr.Any) (Rule, bool) {
	d := decoder{es: es}
	r := Rule{L4Proto: NoProto}
	ok := d.metaCmp(expr.MetaKeyIIF, func(b []byte) bool {
		if len(b) != 4 {
			return false
		}
		r.Iif = binaryutil.NativeEndian.Uint32(b)
		return true
	}) &&
		d.metaCmp(expr.MetaKeyOIF, func(b []byte) bool {
			if len(b) != 4 {
				return false
			}
			r.Oif = binaryutil.NativeEndian.Uint32(b)
			return true
		}) &&
		d.metaCmp(expr.MetaKeyIIFNAME, func(b []byte) bool { return decodeIface(b, &r.IifName) }) &&
		d.metaCmp(expr.MetaKeyOIFNAME, func(b []byte) bool { return decodeIface(b, &r.OifName) }) &&
		d.ctCmp(expr.CtKeyDIRECTION, func(b []byte) bool {
			if len(b) != 1 || b[0] != 1 {
				return false
			}
			r.CtDirection = CtReply
			return true
		}) &&
		d.ctState(&r.CtState) &&
		d.ctUnconfirmed(&r.CtUnconfirmed) &&
		d.ctCmp(expr.CtKeyMARK, func(b []byte) bool {
			if len(b) != 4 {
				return false
			}
			r.ConnMark, r.CtMark = MatchMark, binaryutil.NativeEndian.Uint32(b)
			return true
		}) &&
		d.etherType(&r.EtherType) &&
		d.rawMatch(&r) &&
		d.metaCmp(expr.MetaKeyNFPROTO, func(b []byte) bool {
			if len(b) != 1 || (Family(b[0]) != IPv4 && Family(b[0]) != IPv6) {
				return false
			}
			r.Family = Family(b[0])
			return true
		}) &&
		d.addr(r.Family, true, &r.Saddr) &&
		d.setLookup(r.Family, true, &r.SaddrSet) &&
		d.addr(r.Family, false, &r.Daddr) &&
		d.setLookup(r.Family, false, &r.DaddrSet) &&
		d.metaCmp(expr.MetaKeyL4PROTO, func(b []byte) bool {
			if len(b) != 1 {
				return false
			}
			r.L4Proto = int16(b[0])
			return true
		})
	if !ok {
		return Rule{}, false
	}
	switch {
	case hasPorts(r.L4Proto):
		ok = d.thRange(0, 2, &r.Sport) && d.thRange(2, 2, &r.Dport)
	case r.L4Proto == protoICMP || r.L4Proto == protoICMPv6:
		ok = d.thRange(0, 1, &r.ICMPType)
	}
	ok = ok && d.limit(&r.Limit) && d.log(&r.Log) && d.ctMarkSet(&r) && d.rawSet(&r) && d.verdict(&r.Verdict)
	if !ok || d.i != len(d.es) {
		return Rule{}, false
	}
	return r, true
}

type decoder struct {
	es []expr.Any
	i  int
}

func (d *decoder) peek(n int) expr.Any {
	if d.i+n < len(d.es) {
		return d.es[d.i+n]
	}
	return nil
}

// metaCmp decodes an optional `meta load <key>; cmp eq` pair. It returns
// false only when the pair is present but set rejects its data.
func (d *decoder) metaCmp(key expr.MetaKey, set func([]byte) bool) bool {
	m, ok := d.peek(0).(*expr.Meta)
	return d.loadCmp(ok && m.Key == key && !m.SourceRegister, set)
}

// loadCmp decodes the cmp eq after a load that isLoad says is there.
func (d *decoder) loadCmp(isLoad bool, set func([]byte) bool) bool {
	if !isLoad {
		return true
	}
	c, ok := d.peek(1).(*expr.Cmp)
	if !ok || c.Op != expr.CmpOpEq {
		return false
	}
	d.i += 2
	return set(c.Data)
}

func decodeIface(b []byte, i *Iface) bool {
	if len(b) == ifNameSize {
		name, rest, found := bytes.Cut(b, []byte{0})
		if !found || len(name) == 0 || len(bytes.Trim(rest, "\x00")) != 0 {
			return false
		}
		*i = Iface{Name: string(name)}
		return true
	}
	if len(b) == 0 || len(b) >= ifNameSize || bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	*i = Iface{Name: string(b), Prefix: true}
	return true
}

func (d *decoder) ctState(s *CtState) bool {
	ct, ok := d.peek(0).(*expr.Ct)
	if !ok || ct.Key != expr.CtKeySTATE || ct.SourceRegister {
		return true
	}
	bw, ok1 := d.peek(1).(*expr.Bitwise)
	c, ok2 := d.peek(2).(*expr.Cmp)
	if !ok1 || !ok2 || len(bw.Mask) != 4 || c.Op != expr.CmpOpNeq {
		return false
	}
	d.i += 3
	*s = CtState(binaryutil.NativeEndian.Uint32(bw.Mask))
	return *s != 0
}

// ctCmp decodes an optional `ct load <key>; cmp eq` pair, like metaCmp.
func (d *decoder) ctCmp(key expr.CtKey, set func([]byte) bool) bool {
	ct, ok := d.peek(0).(*expr.Ct)
	return d.loadCmp(ok && ct.Key == key && !ct.SourceRegister, set)
}

// ctUnconfirmed decodes an optional `ct status ! confirmed`.
func (d *decoder) ctUnconfirmed(u *bool) bool {
	ct, ok := d.peek(0).(*expr.Ct)
	if !ok || ct.Key != expr.CtKeySTATUS || ct.SourceRegister {
		return true
	}
	bw, ok1 := d.peek(1).(*expr.Bitwise)
	c, ok2 := d.peek(2).(*expr.Cmp)
	if !ok1 || !ok2 || len(bw.Mask) != 4 || c.Op != expr.CmpOpEq ||
		binaryutil.NativeEndian.Uint32(bw.Mask) != ipsConfirmed || !bytes.Equal(c.Data, make([]byte, 4)) {
		return false
	}
	d.i += 3
	*u = true
	return true
}

// etherType decodes an optional `ether type` match (link-layer payload at
// offset 12).
func (d *decoder) etherType(t *uint16) bool {
	pl, ok := d.peek(0).(*expr.Payload)
	if !ok || pl.Base != expr.PayloadBaseLLHeader {
		return true
	}
	c, ok := d.peek(1).(*expr.Cmp)
	if !ok || pl.OperationType != expr.PayloadLoad || pl.Offset != 12 || pl.Len != 2 || c.Op != expr.CmpOpEq || len(c.Data) != 2 {
		return false
	}
	d.i += 2
	*t = binary.BigEndian.Uint16(c.Data)
	return *t != 0
}

// rawMatch decodes an optional `meta mark == M meta priority == P`.
func (d *decoder) rawMatch(r *Rule) bool {
	m, ok := d.peek(0).(*expr.Meta)
	if !ok || m.Key != expr.MetaKeyMARK || m.SourceRegister {
		return true
	}
	var mark, prio []byte
	ok = d.metaCmp(expr.MetaKeyMARK, func(b []byte) bool { mark = b; return len(b) == 4 }) &&
		d.metaCmp(expr.MetaKeyPRIORITY, func(b []byte) bool { prio = b; return len(b) == 4 })
	if !ok || mark == nil || prio == nil {
		return false
	}
	r.RawMark = MatchMark
	r.Mark, r.Priority = binaryutil.NativeEndian.Uint32(mark), binaryutil.NativeEndian.Uint32(prio)
	return true
}

// setValue decodes `immediate reg 1 <4 bytes>; <stmt> set with reg 1`, where
// isStmt recognises the statement; ok is false when absent.
func (d *decoder) setValue(isStmt func(expr.Any) bool) (v uint32, ok bool) {
	im, ok1 := d.peek(0).(*expr.Immediate)
	if !ok1 || len(im.Data) != 4 || !isStmt(d.peek(1)) {
		return 0, false
	}
	d.i += 2
	return binaryutil.NativeEndian.Uint32(im.Data), true
}

// ctMarkSet decodes an optional `ct mark set V`.
func (d *decoder) ctMarkSet(r *Rule) bool {
	v, ok := d.setValue(func(e expr.Any) bool {
		ct, ok := e.(*expr.Ct)
		return ok && ct.Key == expr.CtKeyMARK && ct.SourceRegister
	})
	if ok {
		if r.ConnMark != NoMark {
			return false // dcfw never both matches and sets it
		}
		r.ConnMark, r.CtMark = SetMark, v
	}
	return true
}

// rawSet decodes an optional `meta mark set X meta priority set Y`: a
// stamp, or (both 0) the clearing after a match or on its own.
func (d *decoder) rawSet(r *Rule) bool {
	isMetaSet := func(k expr.MetaKey) func(expr.Any) bool {
		return func(e expr.Any) bool {
			m, ok := e.(*expr.Meta)
			return ok && m.Key == k && m.SourceRegister
		}
	}
	mark, ok := d.setValue(isMetaSet(expr.MetaKeyMARK))
	if !ok {
		return r.RawMark == NoMark // a match is always followed by the clearing
	}
	prio, ok := d.setValue(isMetaSet(expr.MetaKeyPRIORITY))
	switch {
	case !ok:
		return false
	case r.RawMark == MatchMark:
		return mark == 0 && prio == 0
	case mark == 0 && prio == 0:
		r.RawMark = ClearMark
	default:
		r.RawMark, r.Mark, r.Priority = SetMark, mark, prio
	}
	return true
}

// addr decodes an optional address match of family fam (source or
// destination): payload load, optional bitwise mask, cmp eq.
func (d *decoder) addr(fam Family, src bool, p *netip.Prefix) bool {
	pl, ok := d.peek(0).(*expr.Payload)
	if !ok || pl.Base != expr.PayloadBaseNetworkHeader || pl.OperationType != expr.PayloadLoad {
		return true
	}
	var size int
	var offset uint32
	switch {
	case fam == IPv4 && src:
		size, offset = 4, ip4SaddrOffset
	case fam == IPv4:
		size, offset = 4, ip4DaddrOffset
	case fam == IPv6 && src:
		size, offset = 16, ip6SaddrOffset
	case fam == IPv6:
		size, offset = 16, ip6DaddrOffset
	default:
		return false // an address needs the family match before it
	}
	if pl.Offset != offset {
		return true // maybe the other address
	}
	if _, ok := d.peek(1).(*expr.Lookup); ok {
		return true // a set lookup (setLookup)
	}
	if pl.Len == 0 || int(pl.Len) > size {
		return false
	}
	prefixBits := int(pl.Len) * 8
	n := 1
	if bw, ok := d.peek(1).(*expr.Bitwise); ok {
		if len(bw.Mask) != int(pl.Len) {
			return false
		}
		prefixBits = maskBits(bw.Mask)
		if prefixBits < 0 {
			return false
		}
		n = 2
	}
	c, ok := d.peek(n).(*expr.Cmp)
	if !ok || c.Op != expr.CmpOpEq || len(c.Data) != int(pl.Len) {
		return false
	}
	full := make([]byte, size)
	copy(full, c.Data)
	a, _ := netip.AddrFromSlice(full)
	*p = netip.PrefixFrom(a, prefixBits)
	d.i += n + 1
	return true
}

// maskBits returns the length of a contiguous prefix mask, or -1.
func maskBits(m []byte) int {
	n := 0
	for i, b := range m {
		if b == 0xff {
			n += 8
			continue
		}
		ones := bits.LeadingZeros8(^b)
		if b<<ones != 0 {
			return -1
		}
		n += ones
		for _, rest := range m[i+1:] {
			if rest != 0 {
				return -1
			}
		}
		return n
	}
	return n
}

// thRange decodes an optional transport header match at offset: one cmp eq,
// or cmp gte and cmp lte.
func (d *decoder) thRange(offset, size uint32, r *Range) bool {
	pl, ok := d.peek(0).(*expr.Payload)
	if !ok || pl.Base != expr.PayloadBaseTransportHeader || pl.Offset != offset {
		return true
	}
	if pl.Len != size || pl.OperationType != expr.PayloadLoad {
		return false
	}
	val := func(b []byte) (uint16, bool) {
		switch {
		case size == 1 && len(b) == 1:
			return uint16(b[0]), true
		case size == 2 && len(b) == 2:
			return binary.BigEndian.Uint16(b), true
		}
		return 0, false
	}
	c1, ok := d.peek(1).(*expr.Cmp)
	if !ok {
		return false
	}
	v1, ok := val(c1.Data)
	if !ok {
		return false
	}
	if c1.Op == expr.CmpOpEq {
		*r = Range{Lo: v1, Hi: v1}
		d.i += 2
		return true
	}
	c2, ok := d.peek(2).(*expr.Cmp)
	if !ok || c1.Op != expr.CmpOpGte || c2.Op != expr.CmpOpLte {
		return false
	}
	v2, ok := val(c2.Data)
	if !ok {
		return false
	}
	*r = Range{Lo: v1, Hi: v2}
	d.i += 3
	return true
}

func (d *decoder) limit(l **Limit) bool {
	e, ok := d.peek(0).(*expr.Limit)
	if !ok {
		return true
	}
	d.i++
	*l = &Limit{Rate: e.Rate, Unit: LimitUnit(e.Unit), Burst: e.Burst}
	return e.Type == expr.LimitTypePkts && !e.Over
}

func (d *decoder) log(l **Log) bool {
	e, ok := d.peek(0).(*expr.Log)
	if !ok {
		return true
	}
	d.i++
	*l = &Log{Prefix: string(e.Data)}
	if e.Key&(1<<unix.NFTA_LOG_GROUP) != 0 {
		(*l).ToGroup, (*l).Group = true, e.Group
	}
	return true
}

func (d *decoder) verdict(v *Verdict) bool {
	switch e := d.peek(0).(type) {
	case nil:
		*v = Continue
		return true
	case *expr.Verdict:
		switch {
		case e.Kind == expr.VerdictAccept && e.Chain == "":
			*v = Accept
		case e.Kind == expr.VerdictDrop && e.Chain == "":
			*v = Drop
		default:
			return false
		}
	case *expr.Reject:
		switch {
		case e.Type == unix.NFT_REJECT_TCP_RST:
			*v = RejectTCPReset
		case e.Type == unix.NFT_REJECT_ICMPX_UNREACH && e.Code == unix.NFT_REJECT_ICMPX_PORT_UNREACH:
			*v = RejectPortUnreachable
		default:
			return false
		}
	default:
		return false
	}
	d.i++
	return true
}
