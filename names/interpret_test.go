package names

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func answer(q string, qtype uint16, rcode int, rrs ...dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(q, qtype)
	r := new(dns.Msg)
	r.SetRcode(m, rcode)
	r.Answer = rrs
	return r
}

func a(name string, ttl uint32, ip string) dns.RR {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip)}
}

func aaaa(name string, ttl uint32, ip string) dns.RR {
	return &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: net.ParseIP(ip)}
}

func cname(name string, ttl uint32, target string) dns.RR {
	return &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: ttl}, Target: target}
}

// TestInterpret: how an answer becomes addresses or a state.
func TestInterpret(t *testing.T) {
	const q = "api.example.com."
	for _, tc := range []struct {
		name  string
		resp  *dns.Msg
		qtype uint16
		want  []Addr
		err   error
	}{
		{name: "two A records", qtype: dns.TypeA,
			resp: answer(q, dns.TypeA, dns.RcodeSuccess, a(q, 60, "192.0.2.1"), a(q, 5, "192.0.2.2")),
			want: []Addr{{netip.MustParseAddr("192.0.2.1"), 60 * time.Second}, {netip.MustParseAddr("192.0.2.2"), 5 * time.Second}}},
		{name: "AAAA", qtype: dns.TypeAAAA,
			resp: answer(q, dns.TypeAAAA, dns.RcodeSuccess, aaaa(q, 30, "2001:db8::1")),
			want: []Addr{{netip.MustParseAddr("2001:db8::1"), 30 * time.Second}}},
		{name: "CNAME chain takes the smallest TTL", qtype: dns.TypeA,
			resp: answer(q, dns.TypeA, dns.RcodeSuccess, cname(q, 20, "edge.cdn.example."), cname("edge.cdn.example.", 300, "e1.cdn.example."), a("e1.cdn.example.", 600, "198.51.100.7")),
			want: []Addr{{netip.MustParseAddr("198.51.100.7"), 20 * time.Second}}},
		{name: "records of other names ignored", qtype: dns.TypeA,
			resp: answer(q, dns.TypeA, dns.RcodeSuccess, a("evil.example.", 60, "203.0.113.1")), err: ErrNoAddress},
		{name: "wrong family ignored", qtype: dns.TypeA,
			resp: answer(q, dns.TypeA, dns.RcodeSuccess, aaaa(q, 60, "2001:db8::1")), err: ErrNoAddress},
		{name: "NXDOMAIN", qtype: dns.TypeA, resp: answer(q, dns.TypeA, dns.RcodeNameError), err: ErrNotFound},
		{name: "no data", qtype: dns.TypeAAAA, resp: answer(q, dns.TypeAAAA, dns.RcodeSuccess), err: ErrNoAddress},
		{name: "SERVFAIL", qtype: dns.TypeA, resp: answer(q, dns.TypeA, dns.RcodeServerFailure), err: ErrServerFailure},
		{name: "REFUSED", qtype: dns.TypeA, resp: answer(q, dns.TypeA, dns.RcodeRefused), err: ErrServerFailure},
		{name: "answer to another question", qtype: dns.TypeA,
			resp: answer("other.example.", dns.TypeA, dns.RcodeSuccess, a("other.example.", 60, "192.0.2.9")), err: ErrServerFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err, _ := interpret(tc.resp, q, tc.qtype)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			slices.SortFunc(got, func(x, y Addr) int { return x.Addr.Compare(y.Addr) })
			if !slices.Equal(got, tc.want) {
				t.Fatalf("addrs %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLookupErrorIs: a LookupError is its sentinel and its cause.
func TestLookupErrorIs(t *testing.T) {
	cause := errors.New("read: connection refused")
	err := error(&LookupError{Name: "db", Err: ErrServerFailure, Cause: cause})
	if !errors.Is(err, ErrServerFailure) || !errors.Is(err, cause) || errors.Is(err, ErrTimeout) {
		t.Fatalf("errors.Is wrong for %v", err)
	}
	if got := err.Error(); got != "resolve db: nameserver failure: read: connection refused" {
		t.Fatalf("Error() = %q", got)
	}
}
