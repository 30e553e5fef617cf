package nft

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
)

// Kernel tests of reading, diffing and writing (issue 3, checks 9-13, and
// the rendering): real nf_tables in fresh namespaces.

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

// Check 12: tampering with the `nft` tool inside the namespace is repaired
// by the next Apply and reported; chains that were not tampered with keep
// their rule handles.
func TestKernelDriftRepair(t *testing.T) {
	type tamperCtx struct {
		t         *testing.T
		h         *testnet.Host
		in, out   []uint64 // handles before
		inputRule func(i int) Rule
	}
	for _, c := range []struct {
		name      string
		tamper    func(x tamperCtx)
		chains    []string // chains Apply must write
		untouched []string // chains whose handles must not change
		diff      string
		created   bool
	}{
		{
			name:    "table deleted",
			tamper:  func(x tamperCtx) { x.h.NFT(x.t, "delete table inet dcfw") },
			chains:  []string{"input", "output"},
			diff:    "table missing",
			created: true,
		},
		{
			name:    "table dormant",
			tamper:  func(x tamperCtx) { x.h.NFTScript(x.t, "add table inet dcfw { flags dormant; }") },
			chains:  []string{"input", "output"},
			diff:    "table flags dormant, want none",
			created: true,
		},
		{
			name: "table dormant, a chain deleted, a foreign chain added",
			tamper: func(x tamperCtx) {
				x.h.NFTScript(x.t, "flush chain inet dcfw output\ndelete chain inet dcfw output\nadd chain inet dcfw sneaky\n")
				x.h.NFTScript(x.t, "add table inet dcfw { flags dormant; }")
			},
			chains:  []string{"input", "output", "sneaky"},
			diff:    "table flags dormant, want none\nchain sneaky: not made by dcfw (0 rules)\nchain output missing",
			created: true,
		},
		{
			name: "chain deleted",
			tamper: func(x tamperCtx) {
				x.h.NFTScript(x.t, "flush chain inet dcfw output\ndelete chain inet dcfw output\n")
			},
			chains: []string{"output"}, untouched: []string{"input"},
			diff: "chain output missing",
		},
		{
			name: "chain recreated with another priority",
			tamper: func(x tamperCtx) {
				x.h.NFTScript(x.t, "flush chain inet dcfw output\ndelete chain inet dcfw output\n"+
					"add chain inet dcfw output { type filter hook output priority 10; policy drop; }\n")
			},
			chains: []string{"output"}, untouched: []string{"input"},
			diff: "chain output: type filter hook output priority filter + 10, want type filter hook output priority filter",
		},
		{
			name: "foreign chain with a jump",
			tamper: func(x tamperCtx) {
				x.h.NFTScript(x.t, "add chain inet dcfw sneaky\nadd rule inet dcfw sneaky accept\ninsert rule inet dcfw input jump sneaky\n")
			},
			chains: []string{"input", "sneaky"}, untouched: []string{"output"},
			diff: "chain sneaky: not made by dcfw (1 rule)",
		},
		{
			name:   "rule added",
			tamper: func(x tamperCtx) { x.h.NFT(x.t, "insert rule inet dcfw input tcp dport 81 accept") },
			chains: []string{"input"}, untouched: []string{"output"},
			diff: "chain input: 1 extra rule at 1: `tcp dport 81 accept`",
		},
		{
			name: "rule deleted",
			tamper: func(x tamperCtx) {
				x.h.NFT(x.t, "delete rule inet dcfw input handle "+strconv.FormatUint(x.in[4], 10))
			},
			chains: []string{"input"}, untouched: []string{"output"},
			diff: "chain input: 1 rule missing at 5: `iifname \"eth0\" ip saddr 192.168.110.0/24 tcp dport 80 accept",
		},
		{
			name: "rule replaced",
			tamper: func(x tamperCtx) {
				x.h.NFT(x.t, "replace rule inet dcfw input handle "+strconv.FormatUint(x.in[4], 10)+
					` iifname "eth0" ip saddr 192.168.110.0/24 tcp dport 81 accept comment "dcfw.input.rule.1"`)
			},
			chains: []string{"input"}, untouched: []string{"output"},
			diff: "chain input: rule 5 differs: live `iifname \"eth0\" ip saddr 192.168.110.0/24 tcp dport 81 accept",
		},
		{
			name: "rule altered by a counter",
			tamper: func(x tamperCtx) {
				r := x.inputRule(2) // ct state invalid drop
				x.h.NFT(x.t, "replace rule inet dcfw input handle "+strconv.FormatUint(x.in[2], 10)+
					` ct state invalid counter drop comment "`+r.Comment+`"`)
			},
			chains: []string{"input"}, untouched: []string{"output"},
			diff: "chain input: rule 3 differs: live `# not a dcfw rule: ct bitwise cmp counter immediate",
		},
		{
			name: "rules reordered",
			tamper: func(x tamperCtx) {
				r := x.inputRule(1) // ct state established,related: move it to the end
				x.h.NFT(x.t, "delete rule inet dcfw input handle "+strconv.FormatUint(x.in[1], 10))
				x.h.NFT(x.t, "add rule inet dcfw input "+r.String())
			},
			chains: []string{"input"}, untouched: []string{"output"},
			diff: "chain input: rules 2-7 differ",
		},
		{
			name:      "policy changed",
			tamper:    func(x tamperCtx) { x.h.NFTScript(x.t, "chain inet dcfw input { policy accept; }") },
			chains:    []string{"input"},
			untouched: []string{"input", "output"}, // a policy update rewrites no rule
			diff:      "chain input: policy accept, want drop",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, conn := newFirewallNS(t)
			want := webTable(t)
			mustApply(t, conn, want)
			before := map[string][]uint64{"input": handles(t, conn, "input"), "output": handles(t, conn, "output")}
			c.tamper(tamperCtx{t: t, h: h, in: before["input"], out: before["output"],
				inputRule: func(i int) Rule { return mustRead(t, conn).Chain("input").Rules[i] }})

			res := mustApply(t, conn, want)
			if !res.Changed() || res.Created != c.created || !reflect.DeepEqual(res.Chains, c.chains) {
				t.Errorf("repair: %+v; want chains %q, created %v", res, c.chains, c.created)
			}
			if d := strings.Join(res.Differences, "\n"); !strings.Contains(d, c.diff) {
				t.Errorf("differences:\n%s\nwant one containing:\n%s", d, c.diff)
			}
			for _, name := range c.untouched {
				if got := handles(t, conn, name); !slices.Equal(got, before[name]) {
					t.Errorf("untouched chain %s: handles %v, were %v", name, got, before[name])
				}
			}
			if got := nftList(t, h); got != want.String() {
				t.Errorf("not repaired:\n%s", got)
			}
			if res := mustApply(t, conn, want); res.Changed() {
				t.Errorf("Apply after the repair: %+v", res)
			}
		})
	}
}

// Drift repair shown with packets: a rule added by hand opens a port; the
// next Apply closes it again.
func TestKernelDriftRepairTraffic(t *testing.T) {
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":80")
	tp.srv.ListenTCP(t, ":81")
	want := mustCompile(t, enabled(labels.Deny, labels.Allow, []labels.Rule{
		{Action: labels.Allow, Proto: labels.TCP, To: labels.Endpoint{Ports: ports("80")}},
	}, nil))
	checkTraffic(t, tp, want, []probe{
		tcp(tp.cli, srvIP+":80", testnet.Connected),
		tcp(tp.cli, srvIP+":81", testnet.TimedOut),
	})
	tp.srv.NFT(t, "insert rule inet dcfw input tcp dport 81 accept")
	if got := tp.cli.DialTCP(srvIP+":81", probeTimeout); got != testnet.Connected {
		t.Fatalf("after tampering: %v, want Connected", got)
	}
	if res := mustApply(t, tp.conn, want); !res.Changed() {
		t.Fatalf("tampering not detected: %+v", res)
	}
	if got := tp.cli.DialTCP(srvIP+":81", probeTimeout); got != testnet.TimedOut {
		t.Errorf("after repair: %v, want TimedOut", got)
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

// A batch the kernel rejects changes nothing, not even the parts of it
// that were valid.
func TestKernelRejectedBatchIsAtomic(t *testing.T) {
	h, c := newFirewallNS(t)
	want := webTable(t)
	mustApply(t, c, want)
	h.NFTScript(t, "chain inet dcfw output { policy accept; }")
	before := nftList(t, h)
	bad := clone(want)
	bad.Chains[0].Type = "route" // the kernel has no route chains on the input hook
	res, err := c.Apply(bad, false)
	if !errors.Is(err, ErrWriteRejected) || !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("Apply of an invalid table: err = %v, want ErrWriteRejected wrapping EOPNOTSUPP", err)
	}
	if res.Changed() || len(res.Differences) == 0 {
		t.Errorf("result of a rejected batch: %+v", res)
	}
	// The batch also set the output policy back to drop: not applied.
	if got := nftList(t, h); got != before {
		t.Errorf("a rejected batch changed the ruleset:\n--- before\n%s--- after\n%s", before, got)
	}
	if res := mustApply(t, c, want); !reflect.DeepEqual(res.Chains, []string{"output"}) {
		t.Errorf("repair after the rejected batch: %+v", res)
	}
}

// Check 10: while a client connects in a tight loop to a port that a
// reject rule closes (each attempt answered at once with a reset), 200
// different rulesets are applied. Each Apply flushes the input chain and
// re-adds its rules; were that not one atomic batch, the chain would be
// empty for a moment (policy accept) and a connection would get through.
func TestKernelAtomicity(t *testing.T) {
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":81")
	policy := func(i int) *Table {
		return mustCompile(t, enabled(labels.Allow, labels.Allow, []labels.Rule{
			{Action: labels.Reject, Proto: labels.TCP, To: labels.Endpoint{Ports: ports("81")}},
			{Action: labels.Deny, Proto: labels.TCP, To: labels.Endpoint{Ports: ports(strconv.Itoa(2000 + i))}},
		}, nil))
	}
	checkTraffic(t, tp, policy(0), []probe{tcp(tp.cli, srvIP+":81", testnet.Refused)})

	const maxProbes = 1_000_000 // bound; the loop normally stops when the applies are done
	stop := make(chan struct{})
	done := make(chan map[testnet.Outcome]int)
	go func() {
		seen := map[testnet.Outcome]int{}
		for n := 0; n < maxProbes; n++ {
			select {
			case <-stop:
				done <- seen
				return
			default:
			}
			seen[tp.cli.DialTCP(srvIP+":81", probeTimeout)]++
		}
		<-stop
		done <- seen
	}()
	start := time.Now()
	for i := 1; i <= 200; i++ {
		res, err := tp.conn.Apply(policy(i), false)
		if err != nil || !reflect.DeepEqual(res.Chains, []string{"input"}) {
			close(stop)
			<-done
			t.Fatalf("Apply %d: %+v, %v", i, res, err)
		}
	}
	elapsed := time.Since(start)
	close(stop)
	seen := <-done
	t.Logf("200 applies in %v; connection attempts meanwhile: %v", elapsed, seen)
	if seen[testnet.Connected] > 0 {
		t.Errorf("%d connections to the rejected port got through", seen[testnet.Connected])
	}
	if seen[testnet.Refused] == 0 {
		t.Errorf("no connection attempt was refused during the applies")
	}
}

// Large rulesets: more than 1,000 kernel rules apply in one batch (the
// socket buffers are sized for it), read back equal, and are idempotent.
func TestKernelLargeRuleset(t *testing.T) {
	h, c := newFirewallNS(t)
	tbl := largeTable(t, 5) // 5 × 208 + built-ins
	in, _ := tbl.RuleCount()
	if in < 1000 {
		t.Fatalf("only %d rules", in)
	}
	res := mustApply(t, c, tbl)
	if !res.Created || res.Writes < in {
		t.Fatalf("Apply: %+v", res)
	}
	live := mustRead(t, c)
	if got, _ := live.RuleCount(); got != in {
		t.Errorf("live input has %d rules, want %d", got, in)
	}
	if live.String() != tbl.String() {
		t.Errorf("live table differs from the desired one")
	}
	if res := mustApply(t, c, tbl); res.Changed() {
		t.Errorf("second Apply: %+v", res)
	}
	if n := strings.Count(nftList(t, h), "\n"); n < in {
		t.Errorf("nft lists %d lines", n)
	}
	// Rewriting the big chain (flush + 1,000 rules) works too.
	tbl.Chains[0].Rules[len(tbl.Chains[0].Rules)-2].Comment = "changed"
	if res := mustApply(t, c, tbl); res.Writes != 1+in {
		t.Errorf("rewrite: %+v", res)
	}
}

// Lost replies (the receive buffer starved on purpose) do not turn a
// committed batch into an error: Apply reads the table back.
func TestKernelLostRepliesVerified(t *testing.T) {
	_, c := newFirewallNS(t)
	orig := batchBuffers
	t.Cleanup(func() { batchBuffers = orig })
	batchBuffers = func(b, m int) (int, int) { s, _ := orig(b, m); return s, 0 }
	tbl := largeTable(t, 5)
	res, err := c.Apply(tbl, false)
	if err != nil || !res.Created {
		t.Fatalf("Apply with a starved receive buffer: %+v, %v", res, err)
	}
	if res := mustApply(t, c, tbl); res.Changed() {
		t.Errorf("table not as desired: %+v", res)
	}
}

// largeTable compiles an input chain of n label rules of 16 addresses × 13
// ports (208 kernel rules each).
func largeTable(t testing.TB, n int) *Table {
	var rules []labels.Rule
	for i := range n {
		var addrs, ps []string
		for a := range 16 {
			addrs = append(addrs, "10."+strconv.Itoa(i)+"."+strconv.Itoa(a)+".0/24")
		}
		for p := range 13 {
			ps = append(ps, strconv.Itoa(1000+p*10))
		}
		rules = append(rules, labels.Rule{Action: labels.Allow, Proto: labels.TCP, Family: labels.IPv4,
			From: labels.Endpoint{Addrs: pfx(addrs...)}, To: labels.Endpoint{Ports: ports(ps...)}, Comment: "bulk"})
	}
	tbl, err := Compile(enabled(labels.Deny, labels.Allow, rules, nil), testID)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func TestDialErrors(t *testing.T) {
	if _, err := Dial(-1); !errors.Is(err, ErrDial) {
		t.Errorf("Dial(-1): %v, want ErrDial", err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if c, err := Dial(int(f.Fd())); !errors.Is(err, ErrDial) {
		if c != nil {
			c.Close()
		}
		t.Errorf("Dial(/dev/null): %v, want ErrDial", err)
	}
}

func TestApplyRejectsBadTables(t *testing.T) {
	var c Conn // never reaches the kernel
	live := webTable(t)
	live.Chains[0].Rules[0].live = &liveInfo{key: "F", foreign: []string{"counter"}}
	for name, tbl := range map[string]*Table{
		"nil":             nil,
		"duplicate chain": {Chains: []*Chain{{Name: "input"}, {Name: "input"}}},
		"foreign rule":    live,
	} {
		if _, err := c.Apply(tbl, true); err == nil {
			t.Errorf("%s: Apply accepted it", name)
		}
	}
}
