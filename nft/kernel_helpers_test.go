package nft

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
)

// Kernel test topology (all addresses exist only in the test's namespaces):
//
//	cli  eth0 10.99.1.2 fd00:99:1::2  <->  eth0 10.99.1.1 fd00:99:1::1  srv
//	cli2 eth0 10.99.2.2 fd00:99:2::2  <->  ext0 10.99.2.1 fd00:99:2::1  srv
//
// dcfw's table goes into srv. srv's second interface is named ext0 so that
// `on eth*` matches one of its interfaces and not the other.
const (
	srvIP   = "10.99.1.1"
	srvIP6  = "fd00:99:1::1"
	srvIP2  = "10.99.2.1"
	cliIP   = "10.99.1.2"
	cliIP6  = "fd00:99:1::2"
	cli2IP  = "10.99.2.2"
	cli2IP6 = "fd00:99:2::2"
)

// probeTimeout bounds each probe; a drop is reported after it.
const probeTimeout = time.Second

type topo struct {
	srv, cli, cli2 *testnet.Host
	conn           *Conn // dcfw's netlink connection into srv
}

func newTopo(t *testing.T) *topo {
	t.Helper()
	testenv.RequireNetAdmin(t)
	tp := &topo{
		srv:  testnet.NewNS(t, "srv"),
		cli:  testnet.NewNS(t, "cli"),
		cli2: testnet.NewNS(t, "cli2"),
	}
	testnet.Link(t,
		tp.srv, testnet.End{Name: "eth0", IPv4: srvIP + "/24", IPv6: srvIP6 + "/64"},
		tp.cli, testnet.End{Name: "eth0", IPv4: cliIP + "/24", IPv6: cliIP6 + "/64"})
	testnet.Link(t,
		tp.srv, testnet.End{Name: "ext0", IPv4: srvIP2 + "/24", IPv6: "fd00:99:2::1/64"},
		tp.cli2, testnet.End{Name: "eth0", IPv4: cli2IP + "/24", IPv6: cli2IP6 + "/64"})
	tp.conn = dial(t, tp.srv)
	tp.warmUp(t)
	return tp
}

// warmUp waits until both links carry IPv4 and IPv6: right after a link
// comes up, its first IPv6 packets are sometimes lost while the kernel
// still sets the interface up. Bounded: a few attempts per address.
func (tp *topo) warmUp(t *testing.T) {
	t.Helper()
	for _, c := range []struct {
		from *testnet.Host
		ip   string
	}{{tp.cli, srvIP}, {tp.cli, srvIP6}, {tp.cli2, srvIP2}, {tp.cli2, "fd00:99:2::1"}} {
		var got testnet.Outcome
		for range 5 {
			if got = c.from.Ping(c.ip, probeTimeout); got == testnet.Answered {
				break
			}
		}
		if got != testnet.Answered {
			t.Fatalf("network not up: ping %s -> %s: %v", c.from, c.ip, got)
		}
	}
}

// forgetNeighbours empties the neighbour caches of all hosts, so that the
// next packets need neighbour discovery (ARP, ICMPv6 ND) again: with the
// firewall in place, it must let that through.
func (tp *topo) forgetNeighbours(t *testing.T) {
	t.Helper()
	for _, h := range []*testnet.Host{tp.srv, tp.cli, tp.cli2} {
		flushNeighbours(t, h)
	}
}

func flushNeighbours(t *testing.T, h *testnet.Host) {
	t.Helper()
	nl := h.Netlink()
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ns, err := nl.NeighList(0, fam)
		if err != nil {
			t.Fatalf("list neighbours in %s: %v", h, err)
		}
		for _, n := range ns {
			if n.State&(netlink.NUD_NOARP|netlink.NUD_PERMANENT) != 0 {
				continue
			}
			if err := nl.NeighDel(&n); err != nil {
				t.Fatalf("delete neighbour %v in %s: %v", n.IP, h, err)
			}
		}
	}
}

// dial opens a Conn into h, closed at cleanup.
func dial(t *testing.T, h *testnet.Host) *Conn {
	t.Helper()
	c, err := Dial(h.Fd())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func mustCompile(t *testing.T, p labels.Policy) *Table {
	t.Helper()
	tbl, err := Compile(p, testID)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tbl
}

func mustApply(t *testing.T, c *Conn, tbl *Table) Result {
	t.Helper()
	res, err := c.Apply(tbl, false)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func mustRead(t *testing.T, c *Conn) *Table {
	t.Helper()
	tbl, err := c.Read()
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return tbl
}

// probe is one packet test: what it does, and its outcome with the
// firewall in place.
type probe struct {
	name string
	run  func() testnet.Outcome
	pass testnet.Outcome // without the firewall: Connected or Answered
	want testnet.Outcome
}

func tcp(from *testnet.Host, addr string, want testnet.Outcome, opts ...testnet.Option) probe {
	return probe{
		name: fmt.Sprintf("tcp %s -> %s", from.Name(), addr),
		run:  func() testnet.Outcome { return from.DialTCP(addr, probeTimeout, opts...) },
		pass: testnet.Connected, want: want,
	}
}

func udp(from *testnet.Host, addr string, want testnet.Outcome, opts ...testnet.Option) probe {
	return probe{
		name: fmt.Sprintf("udp %s -> %s", from.Name(), addr),
		run:  func() testnet.Outcome { return from.ExchangeUDP(addr, probeTimeout, opts...) },
		pass: testnet.Answered, want: want,
	}
}

func ping(from *testnet.Host, ip string, want testnet.Outcome) probe {
	return probe{
		name: fmt.Sprintf("ping %s -> %s", from.Name(), ip),
		run:  func() testnet.Outcome { return from.Ping(ip, probeTimeout) },
		pass: testnet.Answered, want: want,
	}
}

// runProbes runs the probes concurrently (so drops cost one timeout, not
// one each) and reports every one whose outcome is not expected.
func runProbes(t *testing.T, phase string, ps []probe, expect func(probe) testnet.Outcome) {
	t.Helper()
	got := make([]testnet.Outcome, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = p.run()
		}()
	}
	wg.Wait()
	for i, p := range ps {
		if want := expect(p); got[i] != want {
			t.Errorf("%s: %s: %v, want %v", phase, p.name, got[i], want)
		}
	}
}

// checkTraffic proves every probe passes without dcfw's table, applies
// desired, and checks every probe's outcome with it.
func checkTraffic(t *testing.T, tp *topo, desired *Table, ps []probe) {
	t.Helper()
	if live := mustRead(t, tp.conn); live != nil {
		t.Fatalf("srv already has a dcfw table:\n%s", live)
	}
	runProbes(t, "without dcfw", ps, func(p probe) testnet.Outcome { return p.pass })
	if t.Failed() {
		t.FailNow() // a routing problem, not a firewall result
	}
	res := mustApply(t, tp.conn, desired)
	if !res.Created {
		t.Fatalf("Apply did not create the table: %+v", res)
	}
	tp.forgetNeighbours(t)
	runProbes(t, "with dcfw", ps, func(p probe) testnet.Outcome { return p.want })
	if t.Failed() {
		t.Logf("table:\n%s", tp.srv.NFT(t, "list", "table", "inet", "dcfw"))
	}
}

// handles returns the rule handles of a live chain.
func handles(t *testing.T, c *Conn, chain string) []uint64 {
	t.Helper()
	live := mustRead(t, c)
	ch := live.Chain(chain)
	if ch == nil {
		t.Fatalf("no live chain %s", chain)
	}
	var hs []uint64
	for _, r := range ch.Rules {
		hs = append(hs, r.Handle)
	}
	return hs
}

// generation returns the namespace's ruleset generation.
func generation(t *testing.T, c *Conn) uint32 {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.Generation()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// nftList returns `nft list table inet dcfw` run inside h, followed by
// `nft list table netdev dcfw` when there is one (Table.String's order).
func nftList(t *testing.T, h *testnet.Host) string {
	t.Helper()
	out := h.NFT(t, "list", "table", "inet", "dcfw")
	if nd, err := h.TryNFT(t, "list", "table", "netdev", "dcfw"); err == nil {
		out += nd
	}
	return out
}

// resolved returns the compiled table tbl as Apply makes it in the
// namespace c talks to: with the live secret and egress chains.
func resolved(t *testing.T, c *Conn, tbl *Table) *Table {
	t.Helper()
	live := mustRead(t, c)
	var devs []string
	if live != nil && live.Egress != nil {
		for _, ch := range live.Egress.Chains {
			devs = append(devs, ch.Device)
		}
	}
	return withSecret(tbl, live.Secret, devs)
}

// secretHex replaces the random values of a rendering or a difference
// (marks, priorities) by V, so runs with different secrets compare.
var secretHex = regexp.MustCompile(`0x[0-9a-f]{8}|[0-9a-f]{1,4}:[0-9a-f]{1,4}`)

func withoutSecrets(s string) string { return secretHex.ReplaceAllString(s, "V") }

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
