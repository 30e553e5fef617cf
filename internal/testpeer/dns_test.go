package testpeer

import (
	"context"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestDNSAnswersFromItsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "answers")
	if err := SetDNSAnswer(path, "api.test", DNSAnswer{TTL: 40 * time.Second, Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")}}); err != nil {
		t.Fatal(err)
	}
	srv, err := ListenDNS(0, path, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)
	port := srv.Addr().(*net.UDPAddr).Port
	ask := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), qtype)
		c := &dns.Client{Timeout: 2 * time.Second}
		r, _, err := c.Exchange(m, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String())
		if err != nil {
			t.Fatalf("query %s: %v", name, err)
		}
		return r
	}
	cases := []struct {
		name    string
		qtype   uint16
		rcode   int
		want    string
		wantTTL uint32
	}{
		{"api.test", dns.TypeA, dns.RcodeSuccess, "10.0.0.1", 40},
		{"API.test", dns.TypeAAAA, dns.RcodeSuccess, "fd00::1", 40},
		{"other.test", dns.TypeA, dns.RcodeNameError, "", 0},
	}
	for _, tc := range cases {
		r := ask(tc.name, tc.qtype)
		if r.Rcode != tc.rcode {
			t.Errorf("%s: rcode %s, want %s", tc.name, dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			continue
		}
		if tc.want == "" {
			continue
		}
		if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != tc.wantTTL {
			t.Fatalf("%s: answer %v", tc.name, r.Answer)
		}
		var got net.IP
		switch rr := r.Answer[0].(type) {
		case *dns.A:
			got = rr.A
		case *dns.AAAA:
			got = rr.AAAA
		}
		if got.String() != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	// The answer changes while the server runs.
	if err := SetDNSAnswer(path, "api.test", DNSAnswer{TTL: 5 * time.Second, Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}); err != nil {
		t.Fatal(err)
	}
	r := ask("api.test", dns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.0.0.2" || r.Answer[0].Header().Ttl != 5 {
		t.Errorf("after the change: %v", r.Answer)
	}
	if r := ask("api.test", dns.TypeAAAA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("AAAA after the change: rcode %d, %v; want an empty answer", r.Rcode, r.Answer)
	}
}
