package nft

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Rules are compared by a key: their expressions in canonical netlink form,
// then their userdata (the comment). Handles and positions are not part of
// it.
//
// Canonical form: the expression decoded by the library into its Go type
// and encoded again with expr.Marshal (family inet). The kernel reports some
// attributes in another order, or adds some we did not send (log level,
// bitwise op), and the library decodes and encodes only the attributes it
// knows; one round trip through the library makes what we write and what
// the kernel reads back comparable. The expressions dcfw generates are
// already in canonical form (a unit test checks that they are fixed points),
// so a desired rule's key is simply its encoding.
//
// A live rule with an expression dcfw does not make (or the library cannot
// decode) gets a key that starts differently ('F' rather than 'C') and so
// never equals a desired rule: v0.3.0's GetRules would silently drop such
// an expression, and a tampered rule could then pass for one of ours.

const famInet = byte(unix.NFPROTO_INET)

// key returns r's comparison key: for a live rule, the key of what the
// kernel holds; otherwise that of r's encoding.
func (r *Rule) key() string {
	if r.live != nil {
		return r.live.key
	}
	return r.encodedKey()
}

// encodedKey returns the key of the rule r's fields describe, which is what
// Apply would write. (A foreign rule has no encoding: its live key.)
func (r *Rule) encodedKey() string {
	if r.live.isForeign() {
		return r.live.key
	}
	b := []byte{'C'}
	for _, e := range r.encode() {
		m, err := expr.Marshal(famInet, e)
		if err != nil {
			// Cannot happen for the types encode builds; make the rule
			// compare unequal to everything rather than hide it.
			return "E" + err.Error()
		}
		b = appendChunk(b, m)
	}
	b = append(b, 'U')
	b = appendChunk(b, r.userData())
	return string(b)
}

func appendChunk(b, chunk []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(chunk)))
	return append(b, chunk...)
}

// rawExpr is one expression of a rule as the kernel dumps it: its name and
// its NFTA_EXPR_DATA attributes.
type rawExpr struct {
	name string
	data []byte
}

// newExpr returns an empty expression of the types dcfw generates, or nil.
func newExpr(name string) expr.Any {
	switch name {
	case "meta":
		return &expr.Meta{}
	case "cmp":
		return &expr.Cmp{}
	case "payload":
		return &expr.Payload{}
	case "bitwise":
		return &expr.Bitwise{}
	case "ct":
		return &expr.Ct{}
	case "limit":
		return &expr.Limit{}
	case "log":
		return &expr.Log{}
	case "reject":
		return &expr.Reject{}
	case "immediate":
		return &expr.Verdict{}
	case "lookup":
		return &expr.Lookup{}
	}
	return nil
}

// decodeExpr decodes one dumped expression into its library type.
func decodeExpr(x rawExpr) (e expr.Any, err error) {
	// The library indexes into attribute data without length checks in a
	// few places (e.g. verdicts); a malformed dump must not crash the
	// daemon.
	defer func() {
		if p := recover(); p != nil {
			e, err = nil, fmt.Errorf("decoding %s expression: %v", x.name, p)
		}
	}()
	e = newExpr(x.name)
	if e == nil {
		return nil, fmt.Errorf("expression %q is not one dcfw makes", x.name)
	}
	if x.name == "immediate" && !isVerdictImmediate(x.data) {
		e = &expr.Immediate{} // a value for `meta mark set` and the like
	}
	if err := expr.Unmarshal(famInet, x.data, e); err != nil {
		return nil, fmt.Errorf("decoding %s expression: %w", x.name, err)
	}
	if ct, ok := e.(*expr.Ct); ok {
		// v0.3.0 encodes NFTA_CT_SREG (`ct mark set`) but does not decode
		// it: without this, a `ct mark set` read back would re-encode as a
		// load and never equal the rule we wrote.
		if attrs, err := parseAttrs(x.data); err == nil {
			for _, a := range attrs {
				if a.typ == unix.NFTA_CT_SREG && len(a.data) == 4 {
					ct.SourceRegister, ct.Register = true, binary.BigEndian.Uint32(a.data)
				}
			}
		}
	}
	return e, nil
}

// isVerdictImmediate reports whether an immediate expression writes the
// verdict register (a verdict such as accept) rather than data.
func isVerdictImmediate(data []byte) bool {
	attrs, err := parseAttrs(data)
	if err != nil {
		return false
	}
	for _, a := range attrs {
		if a.typ == unix.NFTA_IMMEDIATE_DREG && len(a.data) == 4 {
			return binary.BigEndian.Uint32(a.data) == unix.NFT_REG_VERDICT
		}
	}
	return false
}

// liveRule builds the Rule of a dumped kernel rule. Its key is computed
// at once. With decodeNow its fields are filled too: a typed rule when its
// expressions are exactly what dcfw would generate for some Rule, else a
// foreign one; without, decoding waits until the rule is shown (resolved).
func liveRule(raws []rawExpr, udata []byte, handle uint64, decodeNow bool) Rule {
	key, es, _ := canonicalKey(raws, udata, decodeNow)
	if !decodeNow {
		return Rule{L4Proto: NoProto, Comment: commentOf(udata), Handle: handle,
			live: &liveInfo{key: key, pending: &pendingDecode{raws: raws, udata: udata}}}
	}
	return decodeLive(raws, udata, handle, key, es)
}

// resolved returns r with its fields decoded: r itself, except for a rule
// of an internal read whose decoding is pending.
func (r *Rule) resolved() *Rule {
	if r.live == nil || r.live.pending == nil {
		return r
	}
	p := r.live.pending
	_, es, _ := canonicalKey(p.raws, p.udata, true)
	full := decodeLive(p.raws, p.udata, r.Handle, r.live.key, es)
	return &full
}

// canonicalKey returns the comparison key of a dumped rule and, when every
// expression is one dcfw makes and wantExprs is set, the decoded
// expressions. When some expression is not dcfw's the key starts with 'F'
// and can equal no desired rule's key; ok is false then.
func canonicalKey(raws []rawExpr, udata []byte, wantExprs bool) (key string, es []expr.Any, ok bool) {
	b := []byte{'C'}
	if wantExprs {
		es = make([]expr.Any, 0, len(raws))
	}
	ok = true
	for _, x := range raws {
		canon, e, err := canonicalExpr(x, wantExprs)
		if err != nil {
			ok = false
			break
		}
		b = appendChunk(b, canon)
		if wantExprs {
			es = append(es, e)
		}
	}
	if !ok {
		es = nil
		b = []byte{'F'}
		for _, x := range raws {
			b = appendChunk(b, []byte(x.name))
			b = appendChunk(b, x.data)
		}
	}
	b = append(b, 'U')
	return string(appendChunk(b, udata)), es, ok
}

// canonicalCache memoises canonicalExpr by the dumped bytes: a ruleset
// repeats the same few expressions (meta load l4proto, cmp eq tcp, ...)
// over and over, and the library round trip allocates a lot. Bounded: it
// is emptied when full.
var canonicalCache = struct {
	sync.Mutex
	m map[string][]byte
}{m: map[string][]byte{}}

const canonicalCacheSize = 4096

// canonicalExpr returns the canonical form of one dumped expression (see
// the top of this file) and, with wantExpr, its decoded value.
func canonicalExpr(x rawExpr, wantExpr bool) ([]byte, expr.Any, error) {
	ck := x.name + "\x00" + string(x.data)
	if !wantExpr {
		canonicalCache.Lock()
		canon, hit := canonicalCache.m[ck]
		canonicalCache.Unlock()
		if hit {
			return canon, nil, nil
		}
	}
	e, err := decodeExpr(x)
	if err != nil {
		return nil, nil, err
	}
	canon, err := expr.Marshal(famInet, e)
	if err != nil {
		return nil, nil, err
	}
	canonicalCache.Lock()
	if len(canonicalCache.m) >= canonicalCacheSize {
		clear(canonicalCache.m)
	}
	canonicalCache.m[ck] = canon
	canonicalCache.Unlock()
	return canon, e, nil
}

// decodeLive fills the fields of a live rule from its decoded expressions
// (nil: some expression is not dcfw's), or marks it foreign.
func decodeLive(raws []rawExpr, udata []byte, handle uint64, key string, es []expr.Any) Rule {
	comment := commentOf(udata)
	if es != nil {
		if r, ok := decode(es); ok {
			r.Comment, r.Handle = comment, handle
			// decode is the inverse of encode only for what encode makes;
			// the key check proves this rule is exactly r.
			if r.encodedKey() == key {
				r.live = &liveInfo{key: key}
				return r
			}
		}
	}
	summary := make([]string, 0, len(raws))
	for _, x := range raws {
		summary = append(summary, x.name)
	}
	return Rule{Comment: comment, Handle: handle, L4Proto: NoProto, live: &liveInfo{key: key, foreign: summary}}
}

// commentOf returns the comment in a rule's userdata, or "". It walks the
// TLVs with bounds checks (userdata.Get does not check lengths).
func commentOf(udata []byte) string {
	for len(udata) >= 2 {
		typ, n := udata[0], int(udata[1])
		if len(udata) < 2+n {
			return ""
		}
		if userdata.Type(typ) == userdata.TypeComment {
			v := udata[2 : 2+n]
			if len(v) > 0 && v[len(v)-1] == 0 {
				v = v[:len(v)-1]
			}
			return string(v)
		}
		udata = udata[2+n:]
	}
	return ""
}
