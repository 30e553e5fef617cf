// Package testnet builds small, throw-away networks of Linux network
// namespaces for kernel tests, and probes them with real packets.
//
// A test creates hosts (one fresh network namespace each), joins them with
// veth pairs, starts servers in one and probes from another; each probe
// reports a classified Outcome (Connected, Answered, Refused, TimedOut, ...)
// so a test states what a firewall should do to a packet:
//
//	func TestDenyDrops(t *testing.T) {
//		testenv.RequireNetAdmin(t)
//		srv, cli := testnet.NewNS(t, "srv"), testnet.NewNS(t, "cli")
//		testnet.Link(t,
//			srv, testnet.End{Name: "eth0", IPv4: "10.99.1.1/24", IPv6: "fd00:99:1::1/64"},
//			cli, testnet.End{Name: "eth0", IPv4: "10.99.1.2/24", IPv6: "fd00:99:1::2/64"})
//		srv.ListenTCP(t, "[::]:80")
//		// Traffic passes before the firewall, so a block later is not a routing bug.
//		if got := cli.DialTCP("10.99.1.1:80", time.Second); got != testnet.Connected {
//			t.Fatalf("before: %v", got)
//		}
//		... install rules in srv (nftables.WithNetNSFd(srv.Fd())) ...
//		if got := cli.DialTCP("10.99.1.1:80", time.Second); got != testnet.TimedOut {
//			t.Fatalf("after: %v", got)
//		}
//	}
//
// Namespaces are named NamePrefix + label + random hex and bind-mounted under
// /var/run/netns, so while a test runs (or is stopped in a debugger) one can
// look inside: `ip netns exec dcfwt-srv-1a2b3c4d nft list ruleset`.
// Addresses are chosen by the test and exist only inside its namespaces;
// nothing is configured in the host's namespace, whose sysctls, links and
// addresses are never touched.
//
// Be aware:
//   - Everything needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW).
//     NewNS skips the test when that is missing, or fails it when CI is set
//     (see internal/testenv); tests should still call
//     testenv.RequireNetAdmin first.
//   - Cleanup goes through t.Cleanup, in reverse order: servers close, veth
//     pairs are deleted, then the namespace is unmounted; the kernel frees
//     it once nothing refers to it. A test binary that is killed (or panics
//     on -timeout) cannot clean up: leftovers show in `ip netns list` with
//     the dcfwt- prefix and can be removed with `ip netns delete`.
//   - Host.Do moves a locked OS thread into the namespace, on its own
//     goroutine. Goroutines started inside do not follow; sockets created
//     inside stay in the namespace for life. f must not call t.Fatal (it
//     runs on another goroutine). Inside, read /proc/thread-self/net/...,
//     not /proc/self/net or /proc/net: those follow the main thread. Never
//     call setns on a goroutine yourself without locking its thread.
//   - Probes return an Outcome, not an error; for Failed they log the
//     underlying error to the test that created the probing Host.
//   - Link returns once the link carries both families both ways (it pings
//     each peer address from each side; carrier alone is not enough, IPv6
//     finishes setting up an address in deferred work), then deletes the
//     neighbour entries those pings created: tests start with cold
//     neighbour tables, as on a fresh link. So link hosts before
//     installing rules that drop ICMP echo.
//   - Inside its namespaces the package turns ICMP rate limiting off (so
//     repeated refused probes all see their port unreachable) and IPv6 DAD
//     off. Peers not made by NewNS (containers) keep the kernel's defaults:
//     a burst of more than a few refused UDP probes to one peer there may
//     see TimedOut for the later ones.
//   - Verdicts in the sender's own output hook look different from the
//     same verdicts at the receiver: a UDP or ICMP send that is dropped or
//     rejected there fails at once with EPERM (NotPermitted); TCP keeps
//     retransmitting a dropped SYN (TimedOut) and sees a rejected one as
//     Refused.
//   - Probes wait for their full timeout to report TimedOut; keep timeouts
//     short (a second is plenty between namespaces) and probes few.
//   - The nft helpers run the nft binary (via `ip netns exec`) and exist
//     for tests only: to tamper with rules and to read them back.
package testnet
