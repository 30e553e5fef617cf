package nft

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
)

// Kernel tests of reading, comparing and writing (issue 3, checks 9, 11,
// 13, and the rendering): real nf_tables in fresh namespaces.

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
	for _, pc := range policyCases {
		want, err := pc.table()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Apply(want, false); err != nil {
			t.Fatalf("%s: Apply: %v", pc.name, err)
		}
		if got := nftList(t, h); got != want.String() {
			t.Errorf("%s: nft list differs from Table.String:\n--- nft\n%s--- ours\n%s", pc.name, got, want.String())
		}
		live := mustRead(t, c)
		if got := live.String(); got != want.String() {
			t.Errorf("%s: Read differs:\n--- read\n%s--- want\n%s", pc.name, got, want.String())
		}
		for _, ch := range live.Chains {
			for _, r := range ch.Rules {
				if r.Foreign() || r.Handle == 0 {
					t.Errorf("%s: live rule %q: foreign %v, handle %d", pc.name, r.String(), r.Foreign(), r.Handle)
				}
			}
		}
		if res, err := c.Apply(want, false); err != nil || res.Changed() {
			t.Errorf("%s: second Apply: %+v, %v", pc.name, res, err)
		}
	}
}

// Check 9: `log` rules and the default-policy log rule are in the kernel
// with the documented prefixes and rate limit, right before the rules they
// log for.
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
		{"tcp dport 443 " + lim + allow, "tcp dport 443 accept"},
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

// Check 11: applying the same policy again writes nothing (the ruleset
// generation does not move) and the rule handles stay.
func TestKernelIdempotence(t *testing.T) {
	h, c := newFirewallNS(t)
	want := webTable(t)
	res := mustApply(t, c, want)
	if !res.Created || res.Writes == 0 || !reflect.DeepEqual(res.Chains, []string{"input", "output"}) {
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

// A change of one chain's rules rewrites that chain only; a policy change
// updates the policy and leaves every rule (handle) alone.
func TestKernelMinimalWrites(t *testing.T) {
	_, c := newFirewallNS(t)
	mustApply(t, c, webTable(t))
	in, out := handles(t, c, "input"), handles(t, c, "output")

	p := policyCases[1].policy
	p.Output.Rules = slices.Clone(p.Output.Rules)
	p.Output.Rules[0].To.Ports = ports("3307")
	res := mustApply(t, c, mustCompile(t, p))
	if !reflect.DeepEqual(res.Chains, []string{"output"}) || res.Writes != 1+len(mustCompile(t, p).Chain("output").Rules) {
		t.Errorf("output change: %+v", res)
	}
	if got := handles(t, c, "input"); !slices.Equal(got, in) {
		t.Errorf("output change touched input: handles %v, were %v", got, in)
	}
	if got := handles(t, c, "output"); slices.Equal(got, out) {
		t.Errorf("output handles unchanged after a rule change")
	}

	out = handles(t, c, "output")
	p.Input.Policy = labels.Reject // deny -> reject: policy stays drop, rules change
	p.Output.Policy = labels.Allow // deny -> allow: policy accept, BLOCK log rule goes
	res = mustApply(t, c, mustCompile(t, p))
	if !containsAll(strings.Join(res.Differences, "\n"), "chain output: policy drop, want accept") {
		t.Errorf("differences: %q", res.Differences)
	}

	// Only a policy: the library's chain update, no rule written.
	tbl := mustCompile(t, p)
	tbl.Chains[0].Policy = PolicyAccept
	in, out = handles(t, c, "input"), handles(t, c, "output")
	res = mustApply(t, c, tbl)
	if res.Writes != 1 || !reflect.DeepEqual(res.Chains, []string{"input"}) {
		t.Errorf("policy-only change: %+v", res)
	}
	if !slices.Equal(handles(t, c, "input"), in) || !slices.Equal(handles(t, c, "output"), out) {
		t.Errorf("policy-only change rewrote rules")
	}
	if live := mustRead(t, c); live.Chain("input").Policy != PolicyAccept {
		t.Errorf("policy not updated:\n%s", live)
	}
}

// Check 13: other tables (Docker's NAT for its embedded DNS, another
// filter table with a chain named like ours) are untouched by Apply and by
// Remove.
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
	if got := mustRead(t, c); got.String() != want.String() {
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
	if err != nil || !res.Removed || !res.DryRun || res.Writes != 1 {
		t.Fatalf("dry-run Remove: %+v, %v", res, err)
	}
	if mustRead(t, c) == nil {
		t.Fatal("dry-run Remove removed the table")
	}
	if res, err = c.Remove(false); err != nil || !res.Removed || res.Writes != 1 {
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
	if res, err = c.Apply(tbl, true); err != nil || res.Writes != 1 {
		t.Errorf("dry run of a policy change: %+v, %v", res, err)
	}
	if g := generation(t, c); g != gen {
		t.Errorf("dry run wrote something (generation %d -> %d)", gen, g)
	}
}
