package testnet_test

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
)

const (
	// answerWait bounds probes that should get an answer (Connected,
	// Answered, Refused): they return as soon as it comes, so it can be
	// generous without slowing the tests.
	answerWait = 5 * time.Second
	// silenceWait is how long a probe listens before calling a drop a drop.
	// A dropped packet never answers, so this being short cannot make a
	// test fail by accident; it only costs time.
	silenceWait = 400 * time.Millisecond
)

// pair builds the smallest network: srv and cli joined on eth0, with
// 10.99.1.0/24 and fd00:99:1::/64.
func pair(t *testing.T) (srv, cli *testnet.Host) {
	t.Helper()
	srv, cli = testnet.NewNS(t, "srv"), testnet.NewNS(t, "cli")
	testnet.Link(t,
		srv, testnet.End{Name: "eth0", IPv4: "10.99.1.1/24", IPv6: "fd00:99:1::1/64"},
		cli, testnet.End{Name: "eth0", IPv4: "10.99.1.2/24", IPv6: "fd00:99:1::2/64"})
	return srv, cli
}

func expect(t *testing.T, what string, got, want testnet.Outcome) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// Servers answer across the veth in both families; closed ports refuse.
func TestOpenAndClosedPorts(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	srv, cli := pair(t)
	srv.ListenTCP(t, "[::]:80")
	srv.ListenUDP(t, "[::]:53")

	for _, dst := range []string{"10.99.1.1", "fd00:99:1::1"} {
		t.Run(dst, func(t *testing.T) {
			ip := dst
			if len(ip) > 0 && ip[0] == 'f' {
				ip = "[" + ip + "]"
			}
			expect(t, "tcp open", cli.DialTCP(ip+":80", answerWait), testnet.Connected)
			expect(t, "tcp closed", cli.DialTCP(ip+":81", answerWait), testnet.Refused)
			expect(t, "udp open", cli.ExchangeUDP(ip+":53", answerWait), testnet.Answered)
			expect(t, "udp closed", cli.ExchangeUDP(ip+":54", answerWait), testnet.Refused)
			expect(t, "ping", cli.Ping(dst, answerWait), testnet.Answered)
		})
	}
}

// Port 0 listens on a free port and returns it.
func TestListenReturnsAddress(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	srv, cli := pair(t)
	tcp := srv.ListenTCP(t, "10.99.1.1:0")
	udp := srv.ListenUDP(t, "[fd00:99:1::1]:0")
	if tcp == "10.99.1.1:0" || udp == "[fd00:99:1::1]:0" {
		t.Fatalf("listen addresses not resolved: %s %s", tcp, udp)
	}
	expect(t, "tcp "+tcp, cli.DialTCP(tcp, answerWait), testnet.Connected)
	expect(t, "udp "+udp, cli.ExchangeUDP(udp, answerWait), testnet.Answered)
}

// A UDP answer comes from the address the client sent to, also on a host
// with several: a connected client socket drops answers from any other.
func TestUDPAnswerFromDestinationAddress(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	srv, cli := pair(t)
	// Not the addresses source selection would pick for replies to cli.
	srv.AddAddr(t, "eth0", "10.99.1.3/24")
	srv.AddAddr(t, "eth0", "fd00:99:1::5/64")
	srv.ListenUDP(t, "[::]:53")           // dual-stack socket
	srv.ListenUDP(t, "10.99.1.3:54")      // IPv4 socket
	srv.ListenUDP(t, "[fd00:99:1::5]:54") // IPv6-only socket
	for _, addr := range []string{"10.99.1.3:53", "[fd00:99:1::5]:53", "10.99.1.1:53", "10.99.1.3:54", "[fd00:99:1::5]:54"} {
		expect(t, addr, cli.ExchangeUDP(addr, answerWait), testnet.Answered)
	}
}

// A drop in the server's input hook is silence for every probe; a reject
// is a refusal (TCP reset, ICMP port unreachable for the rest).
func TestServerInputDropAndReject(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	for _, tc := range []struct {
		verdict string
		tcp     testnet.Outcome
		other   testnet.Outcome
	}{
		{"drop", testnet.TimedOut, testnet.TimedOut},
		{"reject", testnet.Refused, testnet.Refused},
	} {
		t.Run(tc.verdict, func(t *testing.T) {
			t.Parallel()
			srv, cli := pair(t)
			srv.ListenTCP(t, "[::]:80")
			srv.ListenUDP(t, "[::]:53")
			// Traffic passes first, so the block below is the rule's doing.
			expect(t, "tcp before", cli.DialTCP("10.99.1.1:80", answerWait), testnet.Connected)
			expect(t, "udp before", cli.ExchangeUDP("[fd00:99:1::1]:53", answerWait), testnet.Answered)

			srv.NFTScript(t, `table inet t {
				chain input {
					type filter hook input priority filter; policy accept;
					icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
					`+tc.verdict+`
				}
			}`)
			wait := silenceWait
			if tc.tcp != testnet.TimedOut {
				wait = answerWait
			}
			for _, ip := range []string{"10.99.1.1", "fd00:99:1::1"} {
				hp := ip
				if ip[0] == 'f' {
					hp = "[" + ip + "]"
				}
				expect(t, "tcp "+ip, cli.DialTCP(hp+":80", wait), tc.tcp)
				expect(t, "udp "+ip, cli.ExchangeUDP(hp+":53", wait), tc.other)
				expect(t, "ping "+ip, cli.Ping(ip, wait), tc.other)
			}
		})
	}
}

// A drop in the sender's own output hook: UDP and ICMP sends fail at once
// (NotPermitted), TCP retransmits its SYN and times out.
func TestClientOutputDrop(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	srv, cli := pair(t)
	srv.ListenTCP(t, "[::]:80")
	srv.ListenUDP(t, "[::]:53")
	cli.NFT(t, "add table inet t")
	cli.NFT(t, "add chain inet t output { type filter hook output priority filter; }")
	cli.NFT(t, "add rule inet t output ip daddr 10.99.1.1 drop")

	expect(t, "tcp", cli.DialTCP("10.99.1.1:80", silenceWait), testnet.TimedOut)
	expect(t, "udp", cli.ExchangeUDP("10.99.1.1:53", silenceWait), testnet.NotPermitted)
	expect(t, "ping", cli.Ping("10.99.1.1", silenceWait), testnet.NotPermitted)
	// IPv6 is not matched by the rule and still passes.
	expect(t, "tcp6", cli.DialTCP("[fd00:99:1::1]:80", answerWait), testnet.Connected)
}

// A host with two links to two peers: traffic arrives on the interface the
// test expects, and a rule on one interface leaves the other alone.
func TestTwoInterfaces(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	srv, a, b := testnet.NewNS(t, "srv"), testnet.NewNS(t, "a"), testnet.NewNS(t, "b")
	testnet.Link(t,
		srv, testnet.End{Name: "eth0", IPv4: "10.99.1.1/24", IPv6: "fd00:99:1::1/64"},
		a, testnet.End{Name: "eth0", IPv4: "10.99.1.2/24", IPv6: "fd00:99:1::2/64"})
	testnet.Link(t,
		srv, testnet.End{Name: "eth1", IPv4: "10.99.2.1/24", IPv6: "fd00:99:2::1/64"},
		b, testnet.End{Name: "eth0", IPv4: "10.99.2.2/24", IPv6: "fd00:99:2::2/64"})
	srv.ListenTCP(t, "[::]:80")
	expect(t, "a before", a.DialTCP("10.99.1.1:80", answerWait), testnet.Connected)
	expect(t, "b before", b.DialTCP("[fd00:99:2::1]:80", answerWait), testnet.Connected)

	srv.NFT(t, "add table inet t")
	srv.NFT(t, "add chain inet t input { type filter hook input priority filter; }")
	srv.NFT(t, `add rule inet t input iifname "eth1" tcp dport 80 drop`)
	expect(t, "a via eth0", a.DialTCP("10.99.1.1:80", answerWait), testnet.Connected)
	expect(t, "a via eth0 v6", a.DialTCP("[fd00:99:1::1]:80", answerWait), testnet.Connected)
	expect(t, "b via eth1", b.DialTCP("10.99.2.1:80", silenceWait), testnet.TimedOut)
	expect(t, "b via eth1 v6", b.DialTCP("[fd00:99:2::1]:80", silenceWait), testnet.TimedOut)
}

// From, FromPort and Via really change the packets: each is shown by a rule
// that tells them apart.
func TestSourceOptions(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	srv, cli := testnet.NewNS(t, "srv"), testnet.NewNS(t, "cli")
	testnet.Link(t,
		srv, testnet.End{Name: "eth0", IPv4: "10.99.1.1/24", IPv6: "fd00:99:1::1/64"},
		cli, testnet.End{Name: "eth0", IPv4: "10.99.1.2/24", IPv6: "fd00:99:1::2/64"})
	testnet.Link(t,
		srv, testnet.End{Name: "eth1", IPv4: "10.99.2.1/24"},
		cli, testnet.End{Name: "eth1", IPv4: "10.99.2.2/24"})
	srv.ListenTCP(t, "[::]:80")
	srv.ListenUDP(t, "[::]:53")
	srv.NFTScript(t, `table inet t {
		chain input {
			type filter hook input priority filter;
			ip saddr 10.99.2.2 drop
			tcp sport 5000 drop
			udp sport 5000 drop
		}
	}`)

	// The route to 10.99.1.1 is eth0 with source 10.99.1.2: allowed. Bound
	// to eth1's address, the source is the dropped one.
	expect(t, "tcp default source", cli.DialTCP("10.99.1.1:80", answerWait), testnet.Connected)
	expect(t, "tcp From", cli.DialTCP("10.99.1.1:80", silenceWait, testnet.From("10.99.2.2")), testnet.TimedOut)
	expect(t, "udp From", cli.ExchangeUDP("10.99.1.1:53", silenceWait, testnet.From("10.99.2.2")), testnet.TimedOut)
	expect(t, "ping From", cli.Ping("10.99.1.1", silenceWait, testnet.From("10.99.2.2")), testnet.TimedOut)

	expect(t, "tcp FromPort 5000", cli.DialTCP("10.99.1.1:80", silenceWait, testnet.FromPort(5000)), testnet.TimedOut)
	expect(t, "udp FromPort 5000", cli.ExchangeUDP("10.99.1.1:53", silenceWait, testnet.FromPort(5000)), testnet.TimedOut)
	// The same port twice in a row: the reset close leaves no TIME_WAIT.
	for range 2 {
		expect(t, "tcp FromPort 5001", cli.DialTCP("10.99.1.1:80", answerWait, testnet.FromPort(5001), testnet.From("10.99.1.2")), testnet.Connected)
		expect(t, "udp FromPort 5001", cli.ExchangeUDP("10.99.1.1:53", answerWait, testnet.FromPort(5001)), testnet.Answered)
	}

	// Via: the route to 10.99.1.1 is eth0; bound to eth1 the SYN leaves
	// through eth1 instead, where cli's own output hook rejects it. (A
	// local reject fails a UDP or ICMP send at once, like a local drop; TCP
	// gets the port unreachable while in SYN_SENT.)
	cli.NFT(t, "add table inet t")
	cli.NFT(t, "add chain inet t output { type filter hook output priority filter; }")
	cli.NFT(t, `add rule inet t output oifname "eth1" ip daddr 10.99.1.1 reject`)
	expect(t, "tcp default iface", cli.DialTCP("10.99.1.1:80", answerWait), testnet.Connected)
	expect(t, "tcp Via eth0", cli.DialTCP("10.99.1.1:80", answerWait, testnet.Via("eth0")), testnet.Connected)
	expect(t, "tcp Via eth1", cli.DialTCP("10.99.1.1:80", answerWait, testnet.Via("eth1")), testnet.Refused)
	expect(t, "udp Via eth1", cli.ExchangeUDP("10.99.1.1:53", answerWait, testnet.Via("eth1")), testnet.NotPermitted)
	expect(t, "ping Via eth1", cli.Ping("10.99.1.1", answerWait, testnet.Via("eth1")), testnet.NotPermitted)
	expect(t, "ping Via eth0", cli.Ping("10.99.1.1", answerWait, testnet.Via("eth0")), testnet.Answered)
}

func TestNFT(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	h := testnet.NewNS(t, "nft")
	if out := h.NFT(t, "list", "ruleset"); out != "" {
		t.Fatalf("fresh namespace has a ruleset:\n%s", out)
	}
	h.NFT(t, "add table inet dcfwtest")
	out := h.NFT(t, "list", "tables")
	if out != "table inet dcfwtest\n" {
		t.Fatalf("list tables = %q", out)
	}
	if _, err := h.TryNFT(t, "add", "rule", "inet", "nosuchtable", "c", "drop"); err == nil {
		t.Fatal("nft with a missing table succeeded")
	}
	// The other namespace did not see it.
	other := testnet.NewNS(t, "nft2")
	if out := other.NFT(t, "list", "ruleset"); out != "" {
		t.Fatalf("table leaked into another namespace:\n%s", out)
	}
}

// When Link returns, the link is ready for a first packet in either
// direction: every IPv6 address has joined its solicited-node multicast
// group (before that, neighbour solicitations for it are dropped and the
// first probe waits a second for a retry), and the neighbour tables are
// empty again, so tests see neighbour discovery as a fresh link would.
func TestLinkReady(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	srv, cli := pair(t)
	for _, side := range []struct {
		h    *testnet.Host
		addr string
	}{{srv, "fd00:99:1::1"}, {cli, "fd00:99:1::2"}} {
		a := netip.MustParseAddr(side.addr).As16()
		group := fmt.Sprintf("ff0200000000000000000001ff%x", a[13:])
		var igmp6 []byte
		if err := side.h.Do(func() (err error) {
			// thread-self: /proc/self/net is the main thread's namespace.
			igmp6, err = os.ReadFile("/proc/thread-self/net/igmp6")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(igmp6), " eth0 ") || !strings.Contains(string(igmp6), group) {
			t.Errorf("%s: solicited-node group %s of %s not joined:\n%s", side.h, group, side.addr, igmp6)
		}
		l, err := side.h.Netlink().LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		neighs, err := side.h.Netlink().NeighList(l.Attrs().Index, netlink.FAMILY_ALL)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range neighs {
			if n.State&(netlink.NUD_NOARP|netlink.NUD_PERMANENT) == 0 {
				t.Errorf("%s: neighbour entry left by Link: %s", side.h, n.String())
			}
		}
	}
	srv.ListenTCP(t, "[::]:80")
	cli.ListenTCP(t, "[::]:80")
	expect(t, "v6 cli->srv", cli.DialTCP("[fd00:99:1::1]:80", answerWait), testnet.Connected)
	expect(t, "v6 srv->cli", srv.DialTCP("[fd00:99:1::2]:80", answerWait), testnet.Connected)
}
