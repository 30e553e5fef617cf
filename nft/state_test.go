package nft

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
)

// Kernel tests of reading, comparing and writing (log rules, idempotence,
// foreign tables, and the rendering): real nf_tables in fresh namespaces.

// newFirewallNS returns a fresh namespace (no links) and a Conn into it.
func newFirewallNS(t *testing.T) (*testnet.Host, *Conn) {
	t.Helper()
	testenv.RequireNetAdmin(t)
	h := testnet.NewNS(t, "fw")
	return h, dial(t, h)
}

// TestKernelRenderingMatches applies every test policy in turn to one
// namespace and compares three renderings: Table.String of the compiled
// table, `nft list table inet dcfw` (the kernel's rules as nft reads
// them), and Table.String of what Read returns. Moving from one policy to
// the next also exercises updates of a live table.
func TestKernelRenderingMatches(t *testing.T) {
	h, c := newFirewallNS(t)
	addVeth(t, h, "eth0", "eth1") // interfaces, so there are egress chains
	for _, pc := range policyCases {
		compiled, err := pc.table()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Apply(compiled, false); err != nil {
			t.Fatalf("%s: Apply: %v", pc.name, err)
		}
		want := resolved(t, c, compiled)
		// eth0 and eth1 present, and Docker's other names in advance.
		if want.Egress == nil || len(want.Egress.Chains) != len(dockerInterfaces) || want.Egress.Chains[0].Device != "eth0" {
			t.Fatalf("%s: egress chains:\n%s", pc.name, want)
		}
		if got := nftList(t, h); got != want.String() {
			t.Errorf("%s: nft list differs from Table.String:\n--- nft\n%s--- ours\n%s", pc.name, got, want.String())
		}
		live := mustRead(t, c)
		if got := live.String(); got != want.String() {
			t.Errorf("%s: Read differs:\n--- read\n%s--- want\n%s", pc.name, got, want.String())
		}
		for _, ch := range append(live.Chains, live.Egress.Chains...) {
			for _, r := range ch.Rules {
				if r.Foreign() || r.Handle == 0 {
					t.Errorf("%s: live rule %q: foreign %v, handle %d", pc.name, r.String(), r.Foreign(), r.Handle)
				}
			}
		}
		if res, err := c.Apply(compiled, false); err != nil || res.Changed() {
			t.Errorf("%s: second Apply: %+v, %v", pc.name, res, err)
		}
	}
}

// addVeth adds a veth pair a <-> b, both ends inside h (and up): two
// interfaces, for egress chains. The namespace's cleanup removes them.
func addVeth(t *testing.T, h *testnet.Host, a, b string) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b}
	if err := h.Netlink().LinkAdd(v); err != nil {
		t.Fatalf("add veth %s/%s: %v", a, b, err)
	}
	for _, n := range []string{a, b} {
		l, err := h.Netlink().LinkByName(n)
		if err == nil {
			err = h.Netlink().LinkSetUp(l)
		}
		if err != nil {
			t.Fatalf("set %s up: %v", n, err)
		}
	}
}

// `log` rules and the default-policy log rule are in the kernel with the
// documented prefixes and rate limit, right before the rules they log for.
//
// Whether the kernel's log then reaches the host's journal depends on the
// host (net.netfilter.nf_log_all_netns=1), which tests must not change.
func TestKernelLogRules(t *testing.T) {
	h, c := newFirewallNS(t)
	mustApply(t, c, mustCompile(t, policyCases[4].policy)) // log-rules
	const (
		lim   = "limit rate 3/minute burst 10 packets "
		allow = `log prefix "[DCFW ALLOW 0123456789ab] "`
		block = `log prefix "[DCFW BLOCK 0123456789ab] "`
	)
	list := nftList(t, h)
	lines := strings.Split(list, "\n")
	idx := func(sub string) int {
		for i, l := range lines {
			if strings.Contains(l, sub) {
				return i
			}
		}
		t.Fatalf("nft list lacks %q:\n%s", sub, list)
		return -1
	}
	for _, c := range []struct{ log, verdict string }{
		{"tcp dport 443 " + lim + allow, "tcp dport 443 ct mark set 0x"},
		{"ip saddr 198.51.100.7 " + lim + block, "ip saddr 198.51.100.7 drop"},
		{"tcp dport 25 " + lim + block, "tcp dport 25 reject with tcp reset"},
		{"ip daddr 203.0.113.0/24 " + lim + block, "ip daddr 203.0.113.0/24 meta l4proto tcp reject with tcp reset"},
	} {
		if l, v := idx(c.log), idx(c.verdict); v != l+1 {
			t.Errorf("log rule %q at line %d, its verdict %q at %d: not right before it", c.log, l, c.verdict, v)
		}
	}
	// The default-policy log rule ends both chains (deny policies).
	for _, name := range []string{"input", "output"} {
		rs := mustRead(t, c).Chain(name).Rules
		last := rs[len(rs)-1]
		if !strings.HasPrefix(last.String(), lim+block) {
			t.Errorf("chain %s ends with %q, want the BLOCK log rule", name, last.String())
		}
	}
}

// Applying the same policy again writes nothing (the ruleset generation
// does not move) and the rule handles stay.
func TestKernelIdempotence(t *testing.T) {
	h, c := newFirewallNS(t)
	want := webTable(t)
	res := mustApply(t, c, want)
	if !res.Created || res.Writes == 0 || !reflect.DeepEqual(res.Chains,
		[]string{"egress_eth0", "egress_eth1", "egress_eth2", "egress_eth3", "input", "output", "stamp", "unstamp"}) {
		t.Fatalf("first Apply: %+v", res)
	}
	gen := generation(t, c)
	in, out := handles(t, c, "input"), handles(t, c, "output")
	for i, conn := range []*Conn{c, dial(t, h)} { // the second is a fresh Conn, like dcfw after a restart
		res = mustApply(t, conn, want)
		if res.Changed() || res.Writes != 0 || len(res.Differences) != 0 || len(res.Chains) != 0 || res.Created {
			t.Errorf("Apply %d of the same table: %+v", i+2, res)
		}
	}
	if g := generation(t, c); g != gen {
		t.Errorf("ruleset generation moved from %d to %d: something was written", gen, g)
	}
	if got := handles(t, c, "input"); !slices.Equal(got, in) {
		t.Errorf("input handles %v, were %v", got, in)
	}
	if got := handles(t, c, "output"); !slices.Equal(got, out) {
		t.Errorf("output handles %v, were %v", got, out)
	}
}

// A change of either direction's rules or policy rewrites both filter
// chains (they share the conntrack mark and mirror each other's rules, see
// conntrack.go) and nothing else: the stamp chain and the raw-frame
// secret stay.
func TestKernelMinimalWrites(t *testing.T) {
	_, c := newFirewallNS(t)
	mustApply(t, c, webTable(t))
	stamp, secret := handles(t, c, StampChain), mustRead(t, c).Secret

	p := policyCases[1].policy
	p.Output.Rules = slices.Clone(p.Output.Rules)
	p.Output.Rules[0].To.Ports = ports("3307")
	tbl := mustCompile(t, p)
	in, out := tbl.RuleCount()
	res := mustApply(t, c, tbl)
	if !reflect.DeepEqual(res.Chains, []string{"input", "output"}) || res.Writes != 2+in+out {
		t.Errorf("output change: %+v", res)
	}
	live := mustRead(t, c)
	if !slices.Equal(handles(t, c, StampChain), stamp) || live.Secret.Mark != secret.Mark || live.Secret.Priority != secret.Priority {
		t.Errorf("output change touched the raw-frame filter")
	}
	if live.Secret.Conn == secret.Conn {
		t.Errorf("conntrack mark kept after a change: %#x", live.Secret.Conn)
	}

	p.Input.Policy = labels.Reject // deny -> reject: policy stays drop, rules change
	p.Output.Policy = labels.Allow // deny -> allow: policy accept, BLOCK log rule goes
	res = mustApply(t, c, mustCompile(t, p))
	if !containsAll(strings.Join(res.Differences, "\n"), "chain output: policy drop, want accept") {
		t.Errorf("differences: %q", res.Differences)
	}
	if live := mustRead(t, c); live.Chain(OutputChain).Policy != PolicyAccept {
		t.Errorf("policy not updated:\n%s", live)
	}
}

// Other tables (Docker's NAT for its embedded DNS, another filter table
// with a chain named like ours) are untouched by Apply and by Remove.
func TestKernelForeignTablesUntouched(t *testing.T) {
	h, c := newFirewallNS(t)
	h.NFTScript(t, `
table ip nat {
	chain DOCKER_OUTPUT {
		type nat hook output priority -100; policy accept;
		ip daddr 127.0.0.11 tcp dport 53 dnat to 127.0.0.11:45000
		ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:45001
	}
	chain DOCKER_POSTROUTING {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 127.0.0.11 tcp sport 45000 snat to :53
	}
}
table inet filter {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 22 accept comment "not ours"
	}
}
`)
	others := func() string {
		return h.NFT(t, "-a", "list", "table", "ip", "nat") + h.NFT(t, "-a", "list", "table", "inet", "filter")
	}
	before := others()
	want := webTable(t)
	mustApply(t, c, want)
	if got := mustRead(t, c); got.String() != resolved(t, c, want).String() {
		t.Errorf("Read mixes in another table:\n%s", got)
	}
	if res := mustApply(t, c, want); res.Changed() {
		t.Errorf("another table's chain `input` is seen as drift: %+v", res)
	}
	p := policyCases[1].policy
	p.Input.Policy = labels.Allow
	mustApply(t, c, mustCompile(t, p))
	res, err := c.Remove(false)
	if err != nil || !res.Removed {
		t.Fatalf("Remove: %+v, %v", res, err)
	}
	if got := others(); got != before {
		t.Errorf("other tables changed:\n--- before\n%s--- after\n%s", before, got)
	}
	if tables := h.NFT(t, "list", "tables"); tables != "table ip nat\ntable inet filter\n" {
		t.Errorf("tables after Remove: %q", tables)
	}
}

func TestKernelRemove(t *testing.T) {
	h, c := newFirewallNS(t)
	if res, err := c.Remove(false); err != nil || res.Changed() || res.Removed {
		t.Fatalf("Remove without a table: %+v, %v", res, err)
	}
	mustApply(t, c, webTable(t))
	res, err := c.Remove(true)
	if err != nil || !res.Removed || !res.DryRun || res.Writes != 2 { // inet and netdev
		t.Fatalf("dry-run Remove: %+v, %v", res, err)
	}
	if mustRead(t, c) == nil {
		t.Fatal("dry-run Remove removed the table")
	}
	if res, err = c.Remove(false); err != nil || !res.Removed || res.Writes != 2 {
		t.Fatalf("Remove: %+v, %v", res, err)
	}
	if live := mustRead(t, c); live != nil {
		t.Fatalf("table still there:\n%s", live)
	}
	if out := h.NFT(t, "list", "ruleset"); out != "" {
		t.Errorf("ruleset after Remove: %q", out)
	}
}

func TestKernelDryRun(t *testing.T) {
	_, c := newFirewallNS(t)
	gen := generation(t, c)
	want := webTable(t)
	res, err := c.Apply(want, true)
	if err != nil || !res.DryRun || !res.Created || res.Writes == 0 || !res.Changed() || res.Differences[0] != "table missing" {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	real := mustApply(t, c, want)
	if real.Writes != res.Writes || !reflect.DeepEqual(real.Chains, res.Chains) {
		t.Errorf("dry run predicted %+v, the real Apply did %+v", res, real)
	}
	if g := generation(t, c); g == gen {
		t.Errorf("generation did not move after a real Apply")
	}
	gen = generation(t, c)
	tbl := clone(want)
	tbl.Chains[0].Policy = PolicyAccept
	// Both filter chains rewritten: a new conntrack mark (conntrack.go).
	if res, err = c.Apply(tbl, true); err != nil || !reflect.DeepEqual(res.Chains, []string{"input", "output"}) {
		t.Errorf("dry run of a policy change: %+v, %v", res, err)
	}
	if g := generation(t, c); g != gen {
		t.Errorf("dry run wrote something (generation %d -> %d)", gen, g)
	}
}
