package nft

import (
	"testing"

	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
)

// Kernel tests with real packets between real namespaces. Each first
// proves the traffic passes without dcfw's table.

// Input deny + `allow proto tcp from <client> to any port 80`.
func TestTrafficInputAllowClientPort(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":80")
	tp.srv.ListenTCP(t, ":81")
	tbl := mustCompile(t, enabled(labels.Deny, labels.Allow, []labels.Rule{
		{Action: labels.Allow, Proto: labels.TCP, Family: labels.IPv4,
			From: labels.Endpoint{Addrs: pfx(cliIP)}, To: labels.Endpoint{Ports: ports("80")}},
	}, nil))
	checkTraffic(t, tp, tbl, []probe{
		tcp(tp.cli, srvIP+":80", testnet.Connected),
		tcp(tp.cli, srvIP+":81", testnet.TimedOut),
		tcp(tp.cli2, srvIP2+":80", testnet.TimedOut), // a second client
	})
}

// Input policy reject refuses at once (TCP reset, ICMP port-unreachable),
// it does not time out.
func TestTrafficInputPolicyReject(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":80")
	tp.srv.ListenUDP(t, ":53")
	checkTraffic(t, tp, mustCompile(t, enabled(labels.Reject, labels.Allow, nil, nil)), []probe{
		tcp(tp.cli, srvIP+":80", testnet.Refused),
		tcp(tp.cli, "["+srvIP6+"]:80", testnet.Refused),
		udp(tp.cli, srvIP+":53", testnet.Refused),
		ping(tp.cli, srvIP, testnet.Refused), // icmpx port-unreachable answers the echo
	})
}

// Output deny + `allow proto tcp to <server> port 3306`.
func TestTrafficOutputAllowServerPort(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.cli.ListenTCP(t, ":3306")
	tp.cli.ListenTCP(t, ":3307")
	tbl := mustCompile(t, enabled(labels.Allow, labels.Deny, nil, []labels.Rule{
		{Action: labels.Allow, Proto: labels.TCP, Family: labels.IPv4,
			To: labels.Endpoint{Addrs: pfx(cliIP), Ports: ports("3306")}},
	}))
	checkTraffic(t, tp, tbl, []probe{
		tcp(tp.srv, cliIP+":3306", testnet.Connected),
		tcp(tp.srv, cliIP+":3307", testnet.TimedOut), // a dropped SYN of our own is retried until the timeout
	})
}

// A `reject` rule: TCP gets a reset, UDP a port-unreachable (a connected
// UDP socket reads ECONNREFUSED), in both families; output too.
func TestTrafficRejectRule(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":7000")
	tp.srv.ListenUDP(t, ":7000")
	tp.cli.ListenTCP(t, ":7100")
	tp.cli.ListenUDP(t, ":7100")
	tbl := mustCompile(t, enabled(labels.Allow, labels.Allow,
		[]labels.Rule{{Action: labels.Reject, Proto: labels.AnyProtocol, To: labels.Endpoint{Ports: ports("7000")}}},
		[]labels.Rule{{Action: labels.Reject, Proto: labels.AnyProtocol, To: labels.Endpoint{Ports: ports("7100")}}},
	))
	checkTraffic(t, tp, tbl, []probe{
		tcp(tp.cli, srvIP+":7000", testnet.Refused),
		udp(tp.cli, srvIP+":7000", testnet.Refused),
		tcp(tp.cli, "["+srvIP6+"]:7000", testnet.Refused),
		udp(tp.cli, "["+srvIP6+"]:7000", testnet.Refused),
		// Our own packets: the reset reaches the local socket (Refused);
		// a rejected datagram fails its send at once (EPERM).
		tcp(tp.srv, cliIP+":7100", testnet.Refused),
		udp(tp.srv, cliIP+":7100", testnet.NotPermitted),
	})
}

// `on IFACE` applies to traffic on the named interface only (exact name and
// wildcard, input and output).
func TestTrafficOnInterface(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":80")
	tp.srv.ListenTCP(t, ":81")
	tp.cli.ListenTCP(t, ":90")
	tp.cli2.ListenTCP(t, ":90")
	tbl := mustCompile(t, enabled(labels.Deny, labels.Deny,
		[]labels.Rule{
			{Action: labels.Allow, Iface: "eth0", Proto: labels.TCP, To: labels.Endpoint{Ports: ports("80")}},
			{Action: labels.Allow, Iface: "ext*", Proto: labels.TCP, To: labels.Endpoint{Ports: ports("81")}},
		},
		[]labels.Rule{{Action: labels.Allow, Iface: "ext0", Proto: labels.TCP, To: labels.Endpoint{Ports: ports("90")}}},
	))
	checkTraffic(t, tp, tbl, []probe{
		tcp(tp.cli, srvIP+":80", testnet.Connected),   // via eth0
		tcp(tp.cli2, srvIP2+":80", testnet.TimedOut),  // via ext0
		tcp(tp.cli2, srvIP2+":81", testnet.Connected), // ext0 matches ext*
		tcp(tp.cli, srvIP+":81", testnet.TimedOut),    // eth0 does not
		tcp(tp.srv, cli2IP+":90", testnet.Connected),  // out via ext0
		tcp(tp.srv, cliIP+":90", testnet.TimedOut),    // out via eth0
	})
}

// Port lists and ranges, source ports, and `port` without `proto` matching
// both TCP and UDP.
func TestTrafficPortListsAndRanges(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	for _, a := range []string{":80", ":8000", ":8002", ":8003", ":53", ":90"} {
		tp.srv.ListenTCP(t, a)
	}
	tp.srv.ListenUDP(t, ":53")
	tp.srv.ListenUDP(t, ":54")
	tbl := mustCompile(t, enabled(labels.Deny, labels.Allow, []labels.Rule{
		{Action: labels.Allow, Proto: labels.TCP, To: labels.Endpoint{Ports: ports("80", "8000-8002")}},
		{Action: labels.Allow, Proto: labels.AnyProtocol, To: labels.Endpoint{Ports: ports("53")}},
		{Action: labels.Allow, Proto: labels.TCP, From: labels.Endpoint{Ports: ports("40000-40010")}, To: labels.Endpoint{Ports: ports("90")}},
	}, nil))
	checkTraffic(t, tp, tbl, []probe{
		tcp(tp.cli, srvIP+":80", testnet.Connected),
		tcp(tp.cli, srvIP+":8000", testnet.Connected),
		tcp(tp.cli, srvIP+":8002", testnet.Connected),
		tcp(tp.cli, srvIP+":8003", testnet.TimedOut),
		tcp(tp.cli, srvIP+":53", testnet.Connected),
		udp(tp.cli, srvIP+":53", testnet.Answered),
		udp(tp.cli, srvIP+":54", testnet.TimedOut),
		tcp(tp.cli, srvIP+":90", testnet.Connected, testnet.FromPort(40005)),
		tcp(tp.cli, srvIP+":90", testnet.TimedOut, testnet.FromPort(40011)),
	})
}

// An IPv6 allow rule works (neighbour discovery gets through a deny
// policy), and deny policies block IPv6 as well as IPv4; ping is not
// allowed by default.
func TestTrafficIPv6(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":80")
	tp.srv.ListenTCP(t, ":81")
	tp.cli.ListenTCP(t, ":25")
	tbl := mustCompile(t, enabled(labels.Deny, labels.Deny,
		[]labels.Rule{{Action: labels.Allow, Proto: labels.TCP, Family: labels.IPv6,
			From: labels.Endpoint{Addrs: pfx(cliIP6)}, To: labels.Endpoint{Ports: ports("80")}}},
		nil))
	checkTraffic(t, tp, tbl, []probe{
		tcp(tp.cli, "["+srvIP6+"]:80", testnet.Connected),
		tcp(tp.cli, "["+srvIP6+"]:81", testnet.TimedOut),
		tcp(tp.cli, srvIP+":80", testnet.TimedOut), // the IPv6 rule does not open IPv4
		tcp(tp.srv, "["+cliIP6+"]:25", testnet.TimedOut),
		ping(tp.cli, srvIP6, testnet.TimedOut),
		ping(tp.cli, srvIP, testnet.TimedOut),
	})
}

// Ping works once allowed, per family.
func TestTrafficPingAllowed(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tbl := mustCompile(t, enabled(labels.Deny, labels.Allow, []labels.Rule{
		{Action: labels.Allow, Proto: labels.ICMPv6, Family: labels.IPv6},
	}, nil))
	checkTraffic(t, tp, tbl, []probe{
		ping(tp.cli, srvIP6, testnet.Answered),
		ping(tp.cli, srvIP, testnet.TimedOut),
	})
}

// Replies get through the opposite chain's deny policy, and loopback
// always works.
func TestTrafficRepliesAndLoopback(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":80")
	tp.srv.ListenTCP(t, ":82")
	tp.srv.ListenUDP(t, ":5000")
	tp.cli.ListenTCP(t, ":3306")
	tp.cli.ListenUDP(t, ":53")
	tbl := mustCompile(t, enabled(labels.Deny, labels.Deny,
		[]labels.Rule{{Action: labels.Allow, Proto: labels.TCP, To: labels.Endpoint{Ports: ports("80")}}},
		[]labels.Rule{
			{Action: labels.Allow, Proto: labels.TCP, To: labels.Endpoint{Ports: ports("3306")}},
			{Action: labels.Allow, Proto: labels.UDP, To: labels.Endpoint{Ports: ports("53")}},
		}))
	checkTraffic(t, tp, tbl, []probe{
		// Inbound allowed: the SYN-ACK leaves through output (policy drop).
		tcp(tp.cli, srvIP+":80", testnet.Connected),
		tcp(tp.cli, "["+srvIP6+"]:80", testnet.Connected),
		// Outbound allowed: the answers come in through input (policy drop).
		tcp(tp.srv, cliIP+":3306", testnet.Connected),
		udp(tp.srv, cliIP+":53", testnet.Answered),
		// Loopback, in both families, to ports no rule allows.
		tcp(tp.srv, "127.0.0.1:82", testnet.Connected),
		tcp(tp.srv, "[::1]:82", testnet.Connected),
		udp(tp.srv, "127.0.0.1:5000", testnet.Answered),
	})
}

// Lockdown: nothing but loopback, in and out.
func TestTrafficLockdown(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":80")
	tp.cli.ListenTCP(t, ":80")
	tp.cli.ListenUDP(t, ":53")
	checkTraffic(t, tp, Lockdown(testID), []probe{
		tcp(tp.cli, srvIP+":80", testnet.TimedOut),
		tcp(tp.srv, cliIP+":80", testnet.TimedOut),
		udp(tp.srv, cliIP+":53", testnet.NotPermitted), // dropped by srv's own output
		tcp(tp.srv, "127.0.0.1:80", testnet.Connected),
	})
}

// Reject responses get out through an output chain that drops everything
// else (they belong to a connection that was never accepted, see
// conntrack.go), and ping works once allowed, under output deny.
func TestTrafficRejectWithOutputDeny(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":80")
	tp.srv.ListenUDP(t, ":53")
	tbl := mustCompile(t, enabled(labels.Reject, labels.Deny, []labels.Rule{
		{Action: labels.Allow, Proto: labels.ICMP, Family: labels.IPv4},
	}, nil))
	checkTraffic(t, tp, tbl, []probe{
		tcp(tp.cli, srvIP+":80", testnet.Refused),
		tcp(tp.cli, "["+srvIP6+"]:80", testnet.Refused),
		udp(tp.cli, srvIP+":53", testnet.Refused),
		udp(tp.cli, "["+srvIP6+"]:53", testnet.Refused),
		ping(tp.cli, srvIP, testnet.Answered),
	})
}
