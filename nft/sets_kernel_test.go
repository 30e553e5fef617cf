package nft

import (
	"slices"
	"testing"

	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
)

// Kernel tests of names: real packets against rules that look up sets,
// and set updates that leave the chains alone.

// Input deny + `allow proto tcp from web to any port 80`, web being the
// client (both families); then web moves to the second client: only the
// set's elements are written, the chains keep their rules (same handles,
// same conntrack mark), and the new address is let in while the old one is
// not.
func TestKernelNameSetInput(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":80")
	pol := enabled(labels.Deny, labels.Allow, []labels.Rule{
		{Action: labels.Allow, Proto: labels.TCP,
			From: labels.Endpoint{Names: []string{"web"}}, To: labels.Endpoint{Ports: ports("80")}},
	}, nil)
	checkTraffic(t, tp, mustCompileNames(t, pol, NameAddrs{"web": addrs(cliIP, cliIP6)}), []probe{
		tcp(tp.cli, srvIP+":80", testnet.Connected),
		tcp(tp.cli, "["+srvIP6+"]:80", testnet.Connected),
		tcp(tp.cli2, srvIP2+":80", testnet.TimedOut),
		tcp(tp.cli2, "[fd00:99:2::1]:80", testnet.TimedOut),
	})

	before := mustRead(t, tp.conn)
	gen := generation(t, tp.conn)
	res := mustApply(t, tp.conn, mustCompileNames(t, pol, NameAddrs{"web": addrs(cli2IP)}))
	want := []SetChange{
		{Set: "ip6_web", Family: IPv6, Removed: addrs(cliIP6)},
		{Set: "ip_web", Family: IPv4, Added: addrs(cli2IP), Removed: addrs(cliIP)},
	}
	if len(res.Chains) != 0 || res.Created || !setChangesEqual(res.Sets, want) || res.Writes != 3 {
		t.Fatalf("Apply after the address change: %+v, want only set changes %+v in 3 writes", res, want)
	}
	checkOnlySetsChanged(t, tp.conn, before, gen)

	runProbes(t, "after the change", []probe{
		tcp(tp.cli, srvIP+":80", testnet.TimedOut),
		tcp(tp.cli, "["+srvIP6+"]:80", testnet.TimedOut),
		tcp(tp.cli2, srvIP2+":80", testnet.Connected),
	}, func(p probe) testnet.Outcome { return p.want })
}

// Output deny + `allow proto tcp to db port 3306` + `reject to blocked`:
// the name's address is reachable, others are not; a name without
// addresses allows nothing and a reject rule whose name has no address
// rejects nothing (which is why the controller locks such a container
// down); once blocked has an address, it is refused.
func TestKernelNameSetOutput(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.cli.ListenTCP(t, ":3306")
	tp.cli2.ListenTCP(t, ":3306")
	tp.cli2.ListenTCP(t, ":8080")
	pol := enabled(labels.Allow, labels.Deny, nil, []labels.Rule{
		{Action: labels.Reject, Proto: labels.TCP, To: labels.Endpoint{Names: []string{"blocked"}}},
		{Action: labels.Allow, Proto: labels.TCP, To: labels.Endpoint{Names: []string{"db"}, Ports: ports("3306")}},
		{Action: labels.Allow, Proto: labels.TCP, To: labels.Endpoint{Ports: ports("8080")}},
	})
	checkTraffic(t, tp, mustCompileNames(t, pol, NameAddrs{"db": addrs(cliIP)}), []probe{
		tcp(tp.srv, cliIP+":3306", testnet.Connected),
		tcp(tp.srv, cli2IP+":3306", testnet.TimedOut),
		tcp(tp.srv, cli2IP+":8080", testnet.Connected), // blocked stands for nothing yet
	})

	before := mustRead(t, tp.conn)
	gen := generation(t, tp.conn)
	res := mustApply(t, tp.conn, mustCompileNames(t, pol, NameAddrs{"db": addrs(cliIP, cli2IP), "blocked": addrs(cli2IP)}))
	if len(res.Chains) != 0 || len(res.Sets) != 2 {
		t.Fatalf("Apply after the address change: %+v", res)
	}
	checkOnlySetsChanged(t, tp.conn, before, gen)
	runProbes(t, "after the change", []probe{
		tcp(tp.srv, cliIP+":3306", testnet.Connected),
		tcp(tp.srv, cli2IP+":3306", testnet.Refused), // reject before allow
		tcp(tp.srv, cli2IP+":8080", testnet.Refused),
	}, func(p probe) testnet.Outcome { return p.want })
}

// checkOnlySetsChanged reads the live table and compares it with before:
// the same chains with the same rules under the same handles, the same
// conntrack mark, and exactly one commit since gen (the element batch).
func checkOnlySetsChanged(t *testing.T, c *Conn, before *Table, gen uint32) {
	t.Helper()
	after := mustRead(t, c)
	if g := generation(t, c); g != gen+1 {
		t.Errorf("generation %d -> %d: want exactly one batch", gen, g)
	}
	if after.Secret.Conn != before.Secret.Conn {
		t.Errorf("conntrack mark changed: live connections would be decided again")
	}
	chains := func(tbl *Table) string {
		cp := *tbl
		cp.Sets = nil
		return cp.String()
	}
	if chains(after) != chains(before) {
		t.Errorf("chains changed:\n--- before\n%s--- after\n%s", chains(before), chains(after))
	}
	for _, name := range []string{InputChain, OutputChain} {
		if bh, ah := ruleHandles(before.Chain(name)), ruleHandles(after.Chain(name)); !slices.Equal(bh, ah) {
			t.Errorf("chain %s rewritten: handles %v, then %v", name, bh, ah)
		}
	}
}
