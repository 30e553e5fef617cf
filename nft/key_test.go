package nft

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// allCaseRules returns every rule of every test policy.
func allCaseRules(t testing.TB) []Rule {
	var rs []Rule
	for _, c := range policyCases {
		tbl, err := c.table()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		// As Apply writes it: with a secret and an egress chain.
		tbl = withSecret(tbl, Secret{Mark: 0x11, Priority: 0x20001, Conn: 0x33}, []string{"eth0"})
		for _, ch := range append(tbl.Chains, tbl.Egress.Chains...) {
			rs = append(rs, ch.Rules...)
		}
	}
	return rs
}

// dumpOf returns a rule's expressions as the kernel would dump them: name
// and data of each (without the kernel's own additions).
func dumpOf(t testing.TB, r *Rule) []rawExpr {
	var raws []rawExpr
	for _, e := range r.encode() {
		b, err := expr.Marshal(famInet, e)
		if err != nil {
			t.Fatal(err)
		}
		as, err := parseAttrs(b)
		if err != nil {
			t.Fatal(err)
		}
		var x rawExpr
		for _, a := range as {
			switch a.typ {
			case unix.NFTA_EXPR_NAME:
				x.name = attrString(a.data)
			case unix.NFTA_EXPR_DATA:
				x.data = a.data
			}
		}
		raws = append(raws, x)
	}
	return raws
}

// TestEncodingIsCanonical checks that every expression dcfw generates is a
// fixed point of the library's decode+encode round trip. The comparison key
// of a desired rule is its plain encoding while a live rule's is the round
// trip of what the kernel dumps; without this property an unchanged rule
// would compare unequal and be rewritten on every Apply.
func TestEncodingIsCanonical(t *testing.T) {
	for _, r := range allCaseRules(t) {
		for _, x := range dumpOf(t, &r) {
			e, err := decodeExpr(x)
			if err != nil {
				t.Fatalf("%s: %v", r.String(), err)
			}
			again, err := expr.Marshal(famInet, e)
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := netlink.MarshalAttributes([]netlink.Attribute{
				{Type: unix.NFTA_EXPR_NAME, Data: cstring(x.name)},
				{Type: unix.NLA_F_NESTED | unix.NFTA_EXPR_DATA, Data: x.data},
			})
			if !bytes.Equal(orig, again) {
				t.Errorf("%s: %s expression changes in a round trip:\n%x\n%x", r.String(), x.name, orig, again)
			}
		}
	}
}

// TestDecodeInvertsEncode: a dumped dcfw rule is recognised as exactly the
// rule it came from (all typed fields, comment and key).
func TestDecodeInvertsEncode(t *testing.T) {
	for _, r := range allCaseRules(t) {
		got := liveRule(dumpOf(t, &r), r.userData(), 42, true)
		if got.Foreign() {
			t.Errorf("%s: decoded as foreign", r.String())
			continue
		}
		if got.key() != r.key() || got.encodedKey() != r.key() {
			t.Errorf("%s: key changed in the round trip", r.String())
		}
		// Decoding later (as Apply's reads do) gives the same rule.
		lazy := liveRule(dumpOf(t, &r), r.userData(), 42, false)
		if lazy.key() != got.key() || lazy.String() != got.String() || lazy.Foreign() {
			t.Errorf("%s: lazy decoding differs: %q", r.String(), lazy.String())
		}
		want := r
		want.Handle = 42
		got.live = nil
		if !reflect.DeepEqual(normalized(got), normalized(want)) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
}

// normalized maps the two spellings of "any address" to one for DeepEqual.
func normalized(r Rule) Rule {
	if r.Saddr.IsValid() && r.Saddr.Bits() == 0 {
		r.Saddr = netip.Prefix{}
	}
	if r.Daddr.IsValid() && r.Daddr.Bits() == 0 {
		r.Daddr = netip.Prefix{}
	}
	return r
}

// TestForeignRules: rules that are not exactly dcfw's never compare equal
// to one, even when they differ only in something the library cannot
// decode.
func TestForeignRules(t *testing.T) {
	accept := Rule{L4Proto: protoTCP, Dport: Range{80, 80}, Verdict: Accept, Comment: "c"}
	base := dumpOf(t, &accept)
	counter := rawExpr{name: "counter", data: mustAttrs(t,
		netlink.Attribute{Type: unix.NFTA_COUNTER_BYTES, Data: make([]byte, 8)},
		netlink.Attribute{Type: unix.NFTA_COUNTER_PACKETS, Data: make([]byte, 8)})}
	last := rawExpr{name: "last", data: nil} // an expression v0.3.0 does not know
	for _, c := range []struct {
		name string
		raws []rawExpr
		ud   []byte
	}{
		{"extra counter", insert(base, len(base)-1, counter), accept.userData()},
		{"unknown expression", insert(base, 1, last), accept.userData()},
		{"malformed data", append(append([]rawExpr(nil), base[:1]...), rawExpr{name: "cmp", data: []byte{1, 2, 3}}), accept.userData()},
		{"jump instead of accept", append(append([]rawExpr(nil), base[:len(base)-1]...),
			rawOf(t, &expr.Verdict{Kind: expr.VerdictJump, Chain: "foo"})), accept.userData()},
		{"drop instead of accept", append(append([]rawExpr(nil), base[:len(base)-1]...),
			rawOf(t, &expr.Verdict{Kind: expr.VerdictDrop})), accept.userData()},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := liveRule(c.raws, c.ud, 7, true)
			lazy := liveRule(c.raws, c.ud, 7, false)
			if r.key() == accept.key() || lazy.key() == accept.key() {
				t.Fatalf("tampered rule compares equal to the original")
			}
			if r.Comment != "c" || r.Handle != 7 {
				t.Errorf("comment %q handle %d", r.Comment, r.Handle)
			}
		})
	}
	// Same expressions, other comment: differs, but is still a dcfw-shaped rule.
	other := liveRule(base, userdata.AppendString(nil, userdata.TypeComment, "d"), 1, true)
	if other.Foreign() || other.key() == accept.key() {
		t.Errorf("comment change: foreign=%v equal=%v", other.Foreign(), other.key() == accept.key())
	}
}

func rawOf(t testing.TB, e expr.Any) rawExpr {
	b, err := expr.Marshal(famInet, e)
	if err != nil {
		t.Fatal(err)
	}
	as, err := parseAttrs(b)
	if err != nil || len(as) != 2 {
		t.Fatalf("%v %d", err, len(as))
	}
	return rawExpr{name: attrString(as[0].data), data: as[1].data}
}

func insert(xs []rawExpr, i int, x rawExpr) []rawExpr {
	out := append([]rawExpr(nil), xs[:i]...)
	out = append(out, x)
	return append(out, xs[i:]...)
}

func mustAttrs(t testing.TB, as ...netlink.Attribute) []byte {
	b, err := netlink.MarshalAttributes(as)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCommentOf(t *testing.T) {
	for _, c := range []struct {
		udata []byte
		want  string
	}{
		{nil, ""},
		{userdata.AppendString(nil, userdata.TypeComment, "hello"), "hello"},
		{userdata.AppendString(userdata.AppendUint32(nil, 5, 1), userdata.TypeComment, "x"), "x"},
		{[]byte{0, 200, 'a'}, ""}, // length beyond the data: no panic
		{[]byte{0}, ""},
	} {
		if got := commentOf(c.udata); got != c.want {
			t.Errorf("commentOf(%x) = %q, want %q", c.udata, got, c.want)
		}
	}
}

// FuzzLiveRule feeds arbitrary dumped rules to the decoder: it must never
// panic, and whatever it accepts as a dcfw rule must encode back to exactly
// what was dumped.
func FuzzLiveRule(f *testing.F) {
	for _, r := range allCaseRules(f) {
		var b []byte
		for _, x := range dumpOf(f, &r) {
			b = append(b, byte(len(x.name)))
			b = append(b, x.name...)
			b = append(b, byte(len(x.data)))
			b = append(b, x.data...)
		}
		f.Add(b, r.userData())
	}
	f.Fuzz(func(t *testing.T, b, ud []byte) {
		var raws []rawExpr
		for len(b) > 0 {
			n := int(b[0])
			b = b[1:]
			if n > len(b) {
				break
			}
			x := rawExpr{name: string(b[:n])}
			b = b[n:]
			if len(b) == 0 {
				raws = append(raws, x)
				break
			}
			m := min(int(b[0]), len(b)-1)
			x.data = b[1 : 1+m]
			b = b[1+m:]
			raws = append(raws, x)
		}
		r := liveRule(raws, ud, 1, true)
		if lazy := liveRule(raws, ud, 1, false); lazy.key() != r.key() || lazy.String() != r.String() {
			t.Fatalf("lazy and eager decoding differ")
		}
		if r.Foreign() {
			return
		}
		var key []byte
		key = append(key, 'C')
		for _, x := range raws {
			e, err := decodeExpr(x)
			if err != nil {
				t.Fatalf("typed rule with an undecodable expression %q", x.name)
			}
			m, _ := expr.Marshal(famInet, e)
			key = appendChunk(key, m)
		}
		key = appendChunk(append(key, 'U'), ud)
		if r.encodedKey() != string(key) {
			t.Fatalf("accepted rule %q does not encode back to its dump", r.String())
		}
	})
}
