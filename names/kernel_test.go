package names

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
)

// Kernel tests: a DNS server of our own in one fresh namespace, the
// resolver's sockets in another (the "container"), joined by a veth pair.
//
//	ctr eth0 10.98.0.2 fd00:98::2  <->  eth0 10.98.0.1 fd00:98::1 dns
const (
	dnsIP = "10.98.0.1"
	ctrIP = "10.98.0.2"
)

// zone is the test server's data, changed by the tests while it serves.
type zone struct {
	mu      sync.Mutex
	records map[string][]dns.RR // by lower-case FQDN, A and AAAA
	silent  map[string]bool     // names never answered (a timeout)
	silent6 map[string]bool     // names whose AAAA queries are never answered
	sources map[netip.Addr]bool // where queries came from
}

func (z *zone) set(name string, ttl uint32, addrs ...string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	var rrs []dns.RR
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: ttl}
		if a.Is4() {
			hdr.Rrtype = dns.TypeA
			rrs = append(rrs, &dns.A{Hdr: hdr, A: a.AsSlice()})
		} else {
			hdr.Rrtype = dns.TypeAAAA
			rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	}
	z.records[name] = rrs
}

func (z *zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if ap, err := netip.ParseAddrPort(w.RemoteAddr().String()); err == nil {
		z.sources[ap.Addr().Unmap()] = true
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if z.silent[name] || q.Qtype == dns.TypeAAAA && z.silent6[name] {
		return
	}
	resp := new(dns.Msg)
	rrs, ok := z.records[name]
	if !ok {
		resp.SetRcode(req, dns.RcodeNameError)
		w.WriteMsg(resp)
		return
	}
	resp.SetReply(req)
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype {
			resp.Answer = append(resp.Answer, rr)
		}
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		resp.Truncate(dns.MinMsgSize) // big answers only over TCP
	}
	w.WriteMsg(resp)
}

// setup makes the two namespaces and starts the server; the servers and
// namespaces go at cleanup, also on failure.
func setup(t *testing.T) (*zone, *testnet.Host) {
	t.Helper()
	testenv.RequireNetAdmin(t)
	srv := testnet.NewNS(t, "dns")
	ctr := testnet.NewNS(t, "ctr")
	testnet.Link(t,
		srv, testnet.End{Name: "eth0", IPv4: dnsIP + "/24", IPv6: "fd00:98::1/64"},
		ctr, testnet.End{Name: "eth0", IPv4: ctrIP + "/24", IPv6: "fd00:98::2/64"})
	z := &zone{records: map[string][]dns.RR{}, silent: map[string]bool{}, silent6: map[string]bool{}, sources: map[netip.Addr]bool{}}
	var pc net.PacketConn
	var ln net.Listener
	err := srv.Do(func() (err error) {
		if pc, err = net.ListenPacket("udp", dnsIP+":53"); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", dnsIP+":53")
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", srv, err)
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: z}, {Listener: ln, Handler: z}} {
		go s.ActivateAndServe()
		t.Cleanup(func() { s.Shutdown() })
	}
	return z, ctr
}

func resolverIn(t *testing.T, ctr *testnet.Host, resolvConf string) *Resolver {
	t.Helper()
	conf, err := ParseResolvConf([]byte(resolvConf))
	if err != nil {
		t.Fatal(err)
	}
	return &Resolver{Dial: DialIn(ctr.Fd()), Config: conf}
}

func lookup(t *testing.T, r *Resolver, name string) (Answer, error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	ans, err := r.Lookup(ctx, name)
	return ans, err, time.Since(start)
}

func addrsOf(ans Answer) []netip.Addr {
	var out []netip.Addr
	for _, a := range ans.Addrs {
		out = append(out, a.Addr)
	}
	return out
}

// TestKernelLookup: names answered by our server through a socket made in
// the container's namespace: both families with their TTLs, a service
// name through a search domain, truncated answers over TCP, and each
// failure as its own error, timeouts bounded by resolv.conf.
func TestKernelLookup(t *testing.T) {
	z, ctr := setup(t)
	z.set("api.example.test.", 42, "192.0.2.10", "192.0.2.11", "2001:db8::10")
	z.set("web.svc.test.", 600, "10.98.5.3")
	z.set("v6only.example.test.", 60, "2001:db8::66")
	z.set("empty.example.test.", 60)
	var big, huge []string
	for i := range labels.MaxAddrsPerName + 1 {
		huge = append(huge, fmt.Sprintf("198.51.100.%d", i+1))
	}
	big = huge[:40]
	z.set("big.example.test.", 60, big...)
	z.set("huge.example.test.", 60, huge...)
	z.silent["slow.example.test."] = true
	r := resolverIn(t, ctr, "nameserver "+dnsIP+"\nsearch svc.test\noptions timeout:1 attempts:1\n")

	ans, err, _ := lookup(t, r, "api.example.test")
	want := []Addr{{netip.MustParseAddr("192.0.2.10"), 42 * time.Second}, {netip.MustParseAddr("192.0.2.11"), 42 * time.Second},
		{netip.MustParseAddr("2001:db8::10"), 42 * time.Second}}
	if err != nil || !slices.Equal(ans.Addrs, want) || ans.Name != "api.example.test." {
		t.Errorf("api.example.test: %+v, %v; want %v", ans, err, want)
	}
	if ans, err, _ := lookup(t, r, "web"); err != nil || !slices.Equal(addrsOf(ans), ips("10.98.5.3")) || ans.Name != "web.svc.test." {
		t.Errorf("web through the search domain: %+v, %v", ans, err)
	}
	if ans, err, _ := lookup(t, r, "v6only.example.test"); err != nil || !slices.Equal(addrsOf(ans), ips("2001:db8::66")) {
		t.Errorf("IPv6 only: %+v, %v", ans, err)
	}
	if ans, err, _ := lookup(t, r, "big.example.test"); err != nil || len(ans.Addrs) != len(big) {
		t.Errorf("truncated answer: %d addresses, %v; want %d over TCP", len(ans.Addrs), err, len(big))
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"nosuch.example.test", ErrNotFound},
		{"nosuch", ErrNotFound}, // as written and in svc.test
		{"empty.example.test", ErrNoAddress},
		{"huge.example.test", ErrTooManyAddresses},
	} {
		if _, err, _ := lookup(t, r, tc.name); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	// All at once, in order, each with its own outcome; the silent name
	// does not hold up the others beyond its own timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	all := r.LookupAll(ctx, []string{"slow.example.test", "api.example.test", "web", "nosuch.example.test"})
	if took := time.Since(start); took > 3*time.Second || len(all) != 4 ||
		!errors.Is(all[0].Err, ErrTimeout) || all[1].Err != nil || len(all[1].Answer.Addrs) != 3 ||
		all[2].Err != nil || all[2].Name != "web" || !errors.Is(all[3].Err, ErrNotFound) {
		t.Errorf("LookupAll after %v: %+v", took, all)
	}

	_, err, took := lookup(t, r, "slow.example.test")
	if !errors.Is(err, ErrTimeout) || took > 3*time.Second {
		t.Errorf("slow: %v after %v, want ErrTimeout within the 1 s of resolv.conf (A and AAAA at once)", err, took)
	}

	z.mu.Lock()
	defer z.mu.Unlock()
	if want := map[netip.Addr]bool{netip.MustParseAddr(ctrIP): true}; !maps.Equal(z.sources, want) {
		t.Errorf("queries came from %v, want only the container's %s", z.sources, ctrIP)
	}
}

// TestKernelRotationAndRecreate: a name whose answer changes (a CDN
// rotating, with a short TTL) keeps the addresses it gave a moment ago for
// Min; a name whose server stops answering keeps its addresses until they
// expire; a name that goes away (NXDOMAIN) fails closed once they do.
func TestKernelRotationAndRecreate(t *testing.T) {
	z, ctr := setup(t)
	r := resolverIn(t, ctr, "nameserver "+dnsIP+"\noptions timeout:1 attempts:1\n")
	c := Cache{Min: 30 * time.Second}
	k := Key{Scope: "ctr", Name: "cdn.example.test"}
	t0 := time.Now()
	step := func(at time.Duration) Change {
		t.Helper()
		ans, err, _ := lookup(t, r, k.Name)
		return c.Update(k, ans, err, t0.Add(at))
	}

	z.set("cdn.example.test.", 5, "192.0.2.1")
	if ch := step(0); !slices.Equal(ch.Added, ips("192.0.2.1")) || !ch.StateChanged || ch.State != nil {
		t.Fatalf("first answer: %+v", ch)
	}
	z.set("cdn.example.test.", 5, "192.0.2.2")
	if ch := step(10 * time.Second); !slices.Equal(ch.Addrs, ips("192.0.2.1", "192.0.2.2")) || len(ch.Removed) != 0 || ch.StateChanged {
		t.Fatalf("rotated answer within Min: %+v", ch)
	}
	z.mu.Lock()
	z.silent["cdn.example.test."] = true
	z.mu.Unlock()
	if ch := step(20 * time.Second); ch.State != ErrTimeout || !ch.StateChanged || len(ch.Addrs) != 2 {
		t.Fatalf("timeout: %+v", ch)
	}
	if ch := step(30 * time.Second); !slices.Equal(ch.Removed, ips("192.0.2.1")) || ch.StateChanged {
		t.Fatalf("first address after Min: %+v", ch)
	}
	z.mu.Lock()
	delete(z.silent, "cdn.example.test.")
	delete(z.records, "cdn.example.test.")
	z.mu.Unlock()
	if ch := step(39 * time.Second); ch.State != ErrNotFound || !ch.StateChanged || !slices.Equal(ch.Addrs, ips("192.0.2.2")) {
		t.Fatalf("NXDOMAIN: %+v", ch)
	}
	if ch := step(40 * time.Second); len(ch.Addrs) != 0 || !slices.Equal(ch.Removed, ips("192.0.2.2")) {
		t.Fatalf("fail closed after expiry: %+v", ch)
	}
}

// TestKernelOneFamilyUnanswered: A answers and AAAA times out: the lookup
// succeeds with the IPv4 addresses and says that IPv6 went unanswered
// (unknown, not absent), so that a deny rule does not take "no IPv6
// address" for an answer.
func TestKernelOneFamilyUnanswered(t *testing.T) {
	z, ctr := setup(t)
	z.set("half.example.test.", 60, "192.0.2.20", "2001:db8::20")
	z.mu.Lock()
	z.silent6["half.example.test."] = true
	z.mu.Unlock()
	r := resolverIn(t, ctr, "nameserver "+dnsIP+"\noptions timeout:1 attempts:1\n")
	ans, err, _ := lookup(t, r, "half.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(ans.Addrs) != 1 || ans.Addrs[0].Addr != netip.MustParseAddr("192.0.2.20") {
		t.Errorf("addresses %v, want the IPv4 one", ans.Addrs)
	}
	if !ans.UnansweredV6 || !errors.Is(ans.Unanswered, ErrTimeout) {
		t.Errorf("unanswered = %v (v6 %v), want IPv6 timed out", ans.Unanswered, ans.UnansweredV6)
	}
	z.set("whole.example.test.", 60, "192.0.2.21")
	if ans, err, _ := lookup(t, r, "whole.example.test"); err != nil || ans.Unanswered != nil {
		t.Errorf("a name without AAAA records: %+v, %v; want answered (no IPv6 address is an answer)", ans, err)
	}
}
