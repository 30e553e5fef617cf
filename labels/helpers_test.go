package labels

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// prefixes parses addresses or prefixes for expected values; a plain
// address becomes a host prefix.
func prefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		if !strings.Contains(s, "/") {
			a := netip.MustParseAddr(s)
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func ports(rs ...PortRange) []PortRange { return rs }

func port(p uint16) PortRange      { return PortRange{Lo: p, Hi: p} }
func span(lo, hi uint16) PortRange { return PortRange{Lo: lo, Hi: hi} }
func allErrors(err error) []*Error { var es Errors; errors.As(err, &es); return es }

// sentinels are every sentinel an *Error may wrap.
var sentinels = []error{ErrUnknownLabel, ErrRuleNumber, ErrDuplicateRule, ErrSyntax, ErrValue, ErrConflict,
	ErrValueTooLong, ErrTooManyRules, ErrTooManyErrors, ErrTooManyNames}

// checkErrorInvariants checks what every *Error promises: it points into its
// value at exactly its token, and wraps one of the sentinels.
func checkErrorInvariants(t testing.TB, err error) {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v (%T) is not an Errors", err, err)
	}
	if len(es) == 0 {
		t.Fatalf("empty Errors returned as a non-nil error")
	}
	for _, e := range es {
		if e.Offset >= 0 {
			if e.Offset > len(e.Value) || e.Offset+len(e.Token) > len(e.Value) {
				t.Fatalf("%v: offset %d, token %q out of value %q", e, e.Offset, e.Token, e.Value)
			}
			if got := e.Value[e.Offset : e.Offset+len(e.Token)]; got != e.Token {
				t.Fatalf("%v: value at offset %d is %q, token is %q", e, e.Offset, got, e.Token)
			}
			if e.Column() < 1 {
				t.Fatalf("%v: column %d", e, e.Column())
			}
		} else if e.Offset != -1 {
			t.Fatalf("%v: offset %d", e, e.Offset)
		}
		if e.Msg == "" {
			t.Fatalf("error without message: %#v", e)
		}
		known := false
		for _, s := range sentinels {
			if errors.Is(e, s) {
				known = true
			}
		}
		if !known {
			t.Fatalf("%v wraps no sentinel (%v)", e, e.Err)
		}
	}
}

// checkCanonical checks that a parsed rule is in the canonical form the
// package promises, whatever text it came from.
func checkCanonical(t testing.TB, r Rule) {
	t.Helper()
	if r.Action < Allow || r.Action > Reject {
		t.Fatalf("%q: action %d", r, r.Action)
	}
	if r.Proto < AnyProtocol || r.Proto > 255 {
		t.Fatalf("%q: protocol %d", r, r.Proto)
	}
	if r.HasPorts() && !r.Proto.HasPorts() {
		t.Fatalf("%q: ports with protocol %v", r, r.Proto)
	}
	fam := BothFamilies
	for _, ep := range []Endpoint{r.From, r.To} {
		for i, p := range ep.Addrs {
			if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || p.Addr().Is4In6() {
				t.Fatalf("%q: address %v not canonical", r, p)
			}
			f := IPv6
			if p.Addr().Is4() {
				f = IPv4
			}
			if fam != BothFamilies && f != fam {
				t.Fatalf("%q: mixed families", r)
			}
			fam = f
			if i > 0 {
				prev := ep.Addrs[i-1]
				if comparePrefixByAddr(prev, p) >= 0 || contains(prev, p) || siblings(prev, p) {
					t.Fatalf("%q: addresses %v, %v not sorted and merged", r, prev, p)
				}
			}
		}
		for i, n := range ep.Names {
			if msg, _, _, _ := checkName(n); msg != "" || n != strings.ToLower(n) || isAddressElement(n) {
				t.Fatalf("%q: name %q not canonical: %s", r, n, msg)
			}
			if i > 0 && ep.Names[i-1] >= n {
				t.Fatalf("%q: names %q, %q not sorted and unique", r, ep.Names[i-1], n)
			}
		}
		for i, pr := range ep.Ports {
			if pr.Lo == 0 || pr.Lo > pr.Hi {
				t.Fatalf("%q: bad port range %v", r, pr)
			}
			if i > 0 && int(ep.Ports[i-1].Hi)+1 >= int(pr.Lo) {
				t.Fatalf("%q: ports %v, %v not sorted and merged", r, ep.Ports[i-1], pr)
			}
		}
	}
	if fam == BothFamilies {
		fam = r.Proto.Family()
	} else if pf := r.Proto.Family(); pf != BothFamilies && pf != fam {
		t.Fatalf("%q: protocol family %v, address family %v", r, pf, fam)
	}
	if r.Family != fam {
		t.Fatalf("%q: family %v, want %v", r, r.Family, fam)
	}
	if r.Iface != "" {
		if msg, _ := checkIface(r.Iface); msg != "" {
			t.Fatalf("%q: %s", r, msg)
		}
	}
	if msg := checkComment(r.Comment); msg != "" {
		t.Fatalf("%q: %s", r, msg)
	}
}

// checkRoundTrip checks that the rule's String parses back to an equal rule
// with the same String.
func checkRoundTrip(t testing.TB, r Rule) {
	t.Helper()
	s := r.String()
	again, err := ParseRule(s)
	if err != nil {
		t.Fatalf("String() %q of an accepted rule does not parse: %v", s, err)
	}
	if !again.Equal(r) {
		t.Fatalf("String() %q parses to a different rule:\n got %#v\nwant %#v", s, again, r)
	}
	if s2 := again.String(); s2 != s {
		t.Fatalf("String() not stable: %q then %q", s, s2)
	}
}
