package nft

import (
	"slices"
	"testing"
	"time"

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
		{Set: "ip6_web", For: "web", Family: IPv6, Removed: addrs(cliIP6)},
		{Set: "ip_web", For: "web", Family: IPv4, Added: addrs(cli2IP), Removed: addrs(cliIP)},
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

// Connections opened before the rules, decided by names in both
// directions of data (the mirrored reply rules look up the same sets);
// then the names' addresses change: only elements are written, so the
// connections already accepted go on (the conntrack mark stays), which is
// what keeps a rotating DNS answer from cutting them.
func TestKernelNameSetConnectionsBeforeTheRules(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	tp.srv.NFTScript(t, "table inet conntrack_user {\n\tchain c {\n\t\ttype filter hook output priority 100; policy accept;\n\t\tct state new\n\t}\n}\n")
	s := newStreams(t)
	var toDB, toOther, fromWeb, fromOther byteCounter
	s.listen(tp.cli, ":3306", &toDB)
	s.listen(tp.cli2, ":3306", &toOther)
	s.listen(tp.srv, ":80", nil)
	s.dial(tp.srv, cliIP+":3306", nil)
	s.dial(tp.srv, cli2IP+":3306", nil)
	s.dial(tp.cli, srvIP+":80", &fromWeb)
	s.dial(tp.cli2, srvIP2+":80", &fromOther)
	all := []*byteCounter{&toDB, &toOther, &fromWeb, &fromOther}
	names := []string{"srv -> db:3306", "srv -> cli2:3306 (not db)", "web -> srv:80, srv pushing", "cli2 -> srv:80 (not web), srv pushing"}
	for i, ok := range flowing(settle, all...) {
		if !ok {
			t.Fatalf("without dcfw: %s carries no data", names[i])
		}
	}
	pol := enabled(labels.Deny, labels.Deny,
		[]labels.Rule{{Action: labels.Allow, Proto: labels.TCP, From: labels.Endpoint{Names: []string{"web"}}, To: labels.Endpoint{Ports: ports("80")}}},
		[]labels.Rule{{Action: labels.Allow, Proto: labels.TCP, To: labels.Endpoint{Names: []string{"db"}, Ports: ports("3306")}}})
	mustApply(t, tp.conn, mustCompileNames(t, pol, NameAddrs{"db": addrs(cliIP), "web": addrs(cliIP)}))
	time.Sleep(settle)
	check := func(phase string, want ...bool) {
		t.Helper()
		for i, ok := range flowing(time.Second, all...) {
			if ok != want[i] {
				t.Errorf("%s: %s: data flowing %v, want %v", phase, names[i], ok, want[i])
			}
		}
	}
	check("table created", true, false, true, false)

	res := mustApply(t, tp.conn, mustCompileNames(t, pol, NameAddrs{"db": addrs(cli2IP), "web": addrs(cli2IP)}))
	if len(res.Chains) != 0 || len(res.Sets) != 2 {
		t.Fatalf("address change: %+v", res)
	}
	time.Sleep(settle)
	// The accepted connections go on; the dropped ones were never marked
	// and are decided again by the rules: now they are allowed.
	check("addresses changed", true, true, true, true)
}
