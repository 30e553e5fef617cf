package names

import (
	"testing"

	"github.com/dcfw/dcfw/labels"
	"github.com/miekg/dns"
)

// FuzzParseResolvConf: any resolv.conf parses without panic within the
// bounds, every server is an address, search domains are clean.
func FuzzParseResolvConf(f *testing.F) {
	f.Add("nameserver 127.0.0.11\noptions ndots:0\n")
	f.Add("nameserver 10.0.0.2\nnameserver fd00::53\nsearch a.example b\noptions timeout:30 attempts:0 rotate\n")
	f.Add("domain x\nsearch\nnameserver\nnameserver 1.2.3.4%eth0\n#x\n")
	f.Fuzz(func(t *testing.T, text string) {
		conf, err := ParseResolvConf([]byte(text))
		if err == nil && len(conf.Servers) == 0 {
			t.Fatal("no error without servers")
		}
		if len(conf.Servers) > MaxServers || len(conf.Search) > MaxSearch ||
			conf.Timeout > MaxQueryTimeout || conf.Attempts < 1 || conf.Attempts > MaxAttempts {
			t.Fatalf("bounds: %+v", conf)
		}
		for _, s := range conf.Servers {
			if !s.Addr().IsValid() || s.Port() != 53 {
				t.Fatalf("server %v", s)
			}
		}
		for _, d := range conf.Search {
			if !labels.ValidName(d) {
				t.Fatalf("search domain %q", d)
			}
		}
	})
}

// FuzzInterpret: any message a server sends is read without panic, and
// what it yields is addresses of the asked family or one of the states.
func FuzzInterpret(f *testing.F) {
	for _, m := range []*dns.Msg{
		answer("a.example.", dns.TypeA, dns.RcodeSuccess, cname("a.example.", 5, "b.example."), a("b.example.", 9, "192.0.2.1")),
		answer("a.example.", dns.TypeA, dns.RcodeNameError),
		answer("a.example.", dns.TypeAAAA, dns.RcodeSuccess, aaaa("a.example.", 1, "2001:db8::1")),
	} {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, m.Question[0].Qtype == dns.TypeA)
	}
	f.Fuzz(func(t *testing.T, b []byte, v4 bool) {
		m := new(dns.Msg)
		if m.Unpack(b) != nil {
			return
		}
		qtype := dns.TypeAAAA
		if v4 {
			qtype = dns.TypeA
		}
		addrs, err, _ := interpret(m, "a.example.", qtype)
		if (err == nil) != (len(addrs) > 0) {
			t.Fatalf("addrs %v with error %v", addrs, err)
		}
		for _, x := range addrs {
			if !x.Addr.IsValid() || x.Addr.Is4() != v4 || x.Addr != x.Addr.Unmap() || x.Addr.Zone() != "" {
				t.Fatalf("address %v for qtype %d", x.Addr, qtype)
			}
		}
	})
}
