package nft

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/internal/testpeer"
	"github.com/dcfw/dcfw/labels"
)

// Raw frames from a compromised container (srv, which has CAP_NET_RAW like
// every Docker container) against dcfw's egress chains. The receiver (cli)
// counts, in its own ingress hook, the frames that carry the attacker's
// made-up source MAC: no frame the IP stack sends has it, so the count is
// exactly the raw frames that left srv.

const attackerMAC = "02:de:ad:be:ef:01"

// rawCounter installs the receiver's counter in h and returns a function
// reading it.
func rawCounter(t *testing.T, h *testnet.Host) func() int {
	t.Helper()
	h.NFTScript(t, `table netdev observer {
	chain in {
		type filter hook ingress device "eth0" priority filter; policy accept;
		ether saddr `+attackerMAC+` counter
	}
}
`)
	re := regexp.MustCompile(`counter packets (\d+)`)
	return func() int {
		m := re.FindStringSubmatch(h.NFT(t, "list", "table", "netdev", "observer"))
		if m == nil {
			t.Fatalf("no counter in the observer table")
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
}

func u32(v uint32) *uint32 { return &v }

// rawVariants are the frames the attacker tries: every way to dress a frame
// up that dcfw's check could plausibly let through, given what the attacker
// can guess.
func rawVariants(t *testing.T, tp *topo) []testpeer.RawFrame {
	t.Helper()
	dst := linkMAC(t, tp.cli, "eth0")
	src, _ := net.ParseMAC(attackerMAC)
	v4 := testpeer.RawFrame{Iface: "eth0", DstMAC: dst, SrcMAC: src, Payload: []byte("exfiltrate"),
		Src: netip.MustParseAddrPort(srvIP + ":4000"), Dst: netip.MustParseAddrPort(cliIP + ":9")}
	v6 := v4
	v6.Src, v6.Dst = netip.MustParseAddrPort("["+srvIP6+"]:4000"), netip.MustParseAddrPort("["+cliIP6+"]:9")
	var out []testpeer.RawFrame
	add := func(f testpeer.RawFrame, change func(*testpeer.RawFrame)) {
		change(&f)
		out = append(out, f)
	}
	for _, base := range []testpeer.RawFrame{v4, v6} {
		add(base, func(*testpeer.RawFrame) {})
		for _, m := range []uint32{0, 1, 0xffffffff} {
			add(base, func(f *testpeer.RawFrame) { f.Mark = u32(m) })
			add(base, func(f *testpeer.RawFrame) { f.Priority = u32(m) })
			add(base, func(f *testpeer.RawFrame) { f.Mark, f.Priority = u32(m), u32(m) })
		}
		add(base, func(f *testpeer.RawFrame) { f.VLAN = 5 })
		add(base, func(f *testpeer.RawFrame) { f.EtherType = 0x88b5 })
		add(base, func(f *testpeer.RawFrame) { f.QdiscBypass = true })
		add(base, func(f *testpeer.RawFrame) { f.QdiscBypass, f.Mark, f.Priority = true, u32(1), u32(1) })
	}
	return out
}

func linkMAC(t *testing.T, h *testnet.Host, name string) net.HardwareAddr {
	t.Helper()
	l, err := h.Netlink().LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().HardwareAddr
}

// sendAll sends each frame once from h and returns after the frames had
// time to arrive (veth delivers at once; the wait is a bound, not a guess
// at a delay).
func sendAll(t *testing.T, h *testnet.Host, fs []testpeer.RawFrame) {
	t.Helper()
	for i, f := range fs {
		// A frame dropped in the egress hook fails its send with
		// ENOBUFS (NET_XMIT_DROP); the counter decides either way.
		if err := h.Do(func() error { return testpeer.SendRaw(f) }); err != nil && !errors.Is(err, unix.ENOBUFS) {
			t.Fatalf("frame %d (%s): %v", i, describe(f), err)
		}
	}
	time.Sleep(100 * time.Millisecond)
}

func describe(f testpeer.RawFrame) string {
	s := f.Dst.String()
	if f.Mark != nil {
		s += fmt.Sprintf(" mark %#x", *f.Mark)
	}
	if f.Priority != nil {
		s += fmt.Sprintf(" priority %#x", *f.Priority)
	}
	if f.VLAN != 0 {
		s += fmt.Sprintf(" vlan %d", f.VLAN)
	}
	if f.EtherType != 0 {
		s += fmt.Sprintf(" ethertype %#x", f.EtherType)
	}
	if f.QdiscBypass {
		s += " qdisc-bypass"
	}
	return s
}

// TestRawFramesDropped: every raw frame leaves without dcfw's table, none
// with it (output deny), whatever mark, priority, tag or ethertype the
// attacker gives it; one carrying the real secret (read from the kernel by
// the test, as only a process with CAP_NET_ADMIN can) does leave: the gate
// is the secret, not something else that happens to drop.
func TestRawFramesDropped(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	count := rawCounter(t, tp.cli)
	frames := rawVariants(t, tp)

	before := count()
	sendAll(t, tp.srv, frames)
	if got := count() - before; got != len(frames) {
		t.Fatalf("without dcfw: %d of %d raw frames arrived; the test cannot tell a block from a broken setup", got, len(frames))
	}

	tbl := mustCompile(t, enabled(labels.Allow, labels.Deny, nil, nil))
	if res := mustApply(t, tp.conn, tbl); !slices2(res.Chains, "egress_eth0", "egress_ext0") || res.EgressUnsupported {
		t.Fatalf("Apply: %+v", res)
	}
	for _, f := range frames {
		before := count()
		sendAll(t, tp.srv, []testpeer.RawFrame{f})
		if got := count() - before; got != 0 {
			t.Errorf("with dcfw: raw frame %s arrived %d times", describe(f), got)
		}
	}

	secret := mustRead(t, tp.conn).Secret
	forged := frames[0]
	forged.Mark, forged.Priority = u32(secret.Mark), u32(secret.Priority^1)
	before = count()
	sendAll(t, tp.srv, []testpeer.RawFrame{forged})
	if got := count() - before; got != 0 {
		t.Errorf("the secret mark with a wrong priority arrived %d times", got)
	}
	forged.Priority = u32(secret.Priority)
	before = count()
	sendAll(t, tp.srv, []testpeer.RawFrame{forged})
	if got := count() - before; got != 1 {
		t.Errorf("a frame with the real secret arrived %d times, want 1: the check is not what drops", got)
	}
}

func slices2(got []string, want ...string) bool {
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}

// TestRawSecretNeverLeaves: what leaves srv after dcfw's egress chain
// carries mark 0 and priority 0, for IP-stack traffic of every kind (the
// stamp is cleared). An observer chain in srv's own egress hook, after
// dcfw's (priority filter + 10), counts packets with a non-zero mark or
// priority; the receiver cannot see them (a veth crossing into another
// namespace scrubs both), so the sender's side is where to look.
func TestRawSecretNeverLeaves(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":80")
	tp.cli.ListenUDP(t, ":53")
	tbl := mustCompile(t, enabled(labels.Deny, labels.Deny,
		[]labels.Rule{{Action: labels.Allow, Proto: labels.TCP, To: labels.Endpoint{Ports: ports("80")}}},
		[]labels.Rule{{Action: labels.Allow, Proto: labels.UDP, To: labels.Endpoint{Ports: ports("53")}}}))
	mustApply(t, tp.conn, tbl)
	tp.srv.NFTScript(t, `table netdev observer {
	chain out {
		type filter hook egress device "eth0" priority 10; policy accept;
		counter
		meta mark != 0 counter
		meta priority != none counter
	}
}
`)
	tp.forgetNeighbours(t) // ARP and ND too
	runProbes(t, "legitimate traffic", []probe{
		tcp(tp.cli, srvIP+":80", testnet.Connected),
		tcp(tp.cli, "["+srvIP6+"]:80", testnet.Connected),
		udp(tp.srv, cliIP+":53", testnet.Answered),
	}, func(p probe) testnet.Outcome { return p.want })
	list := tp.srv.NFT(t, "list", "table", "netdev", "observer")
	ns := regexp.MustCompile(`counter packets (\d+)`).FindAllStringSubmatch(list, -1)
	if len(ns) != 3 {
		t.Fatalf("observer:\n%s", list)
	}
	if ns[0][1] == "0" || ns[1][1] != "0" || ns[2][1] != "0" {
		t.Errorf("after dcfw's egress chain: want traffic, and none with a mark or priority:\n%s", list)
	}
}
