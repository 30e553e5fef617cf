package nft

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
)

// Kernel tests of drift repair: tampering done with the nft tool inside the
// namespace.

// Tampering with the `nft` tool inside the namespace is repaired by the
// next Apply and reported; chains that were not tampered with keep their
// rule handles.
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
			chains:  []string{"input", "output", "stamp", "unstamp"},
			diff:    "table missing",
			created: true,
		},
		{
			name:    "table dormant",
			tamper:  func(x tamperCtx) { x.h.NFTScript(x.t, "add table inet dcfw { flags dormant; }") },
			chains:  []string{"input", "output", "stamp", "unstamp"},
			diff:    "table flags dormant, want none",
			created: true,
		},
		{
			name: "table dormant, a chain deleted, a foreign chain added",
			tamper: func(x tamperCtx) {
				x.h.NFTScript(x.t, "flush chain inet dcfw output\ndelete chain inet dcfw output\nadd chain inet dcfw sneaky\n")
				x.h.NFTScript(x.t, "add table inet dcfw { flags dormant; }")
			},
			chains:  []string{"input", "output", "sneaky", "stamp", "unstamp"},
			diff:    "table flags dormant, want none\nchain sneaky: not made by dcfw (0 rules)\nchain output missing",
			created: true,
		},
		{
			name: "chain deleted",
			tamper: func(x tamperCtx) {
				x.h.NFTScript(x.t, "flush chain inet dcfw output\ndelete chain inet dcfw output\n")
			},
			chains: []string{"input", "output"}, untouched: []string{"stamp"},
			diff: "chain output missing",
		},
		{
			name: "chain recreated with another priority",
			tamper: func(x tamperCtx) {
				x.h.NFTScript(x.t, "flush chain inet dcfw output\ndelete chain inet dcfw output\n"+
					"add chain inet dcfw output { type filter hook output priority 10; policy drop; }\n")
			},
			chains: []string{"input", "output"}, untouched: []string{"stamp"},
			diff: "chain output: type filter hook output priority filter + 10, want type filter hook output priority filter",
		},
		{
			name: "foreign chain with a jump",
			tamper: func(x tamperCtx) {
				x.h.NFTScript(x.t, "add chain inet dcfw sneaky\nadd rule inet dcfw sneaky accept\ninsert rule inet dcfw input jump sneaky\n")
			},
			chains: []string{"input", "output", "sneaky"}, untouched: []string{"stamp"},
			diff: "chain sneaky: not made by dcfw (1 rule)",
		},
		{
			name:   "rule added",
			tamper: func(x tamperCtx) { x.h.NFT(x.t, "insert rule inet dcfw input tcp dport 81 accept") },
			chains: []string{"input", "output"}, untouched: []string{"stamp"},
			diff: "chain input: 1 extra rule at 1: `tcp dport 81 accept`",
		},
		{
			name: "rule deleted",
			tamper: func(x tamperCtx) {
				x.h.NFT(x.t, "delete rule inet dcfw input handle "+strconv.FormatUint(x.in[7], 10))
			},
			chains: []string{"input", "output"}, untouched: []string{"stamp"},
			diff: "chain input: 1 rule missing at 8: `iifname \"eth0\" ip saddr 192.168.110.0/24 tcp dport 80 ct mark set 0x",
		},
		{
			name: "rule replaced",
			tamper: func(x tamperCtx) {
				x.h.NFT(x.t, "replace rule inet dcfw input handle "+strconv.FormatUint(x.in[7], 10)+
					` iifname "eth0" ip saddr 192.168.110.0/24 tcp dport 81 accept comment "dcfw.input.rule.1"`)
			},
			chains: []string{"input", "output"}, untouched: []string{"stamp"},
			diff: "chain input: rule 8 differs: live `iifname \"eth0\" ip saddr 192.168.110.0/24 tcp dport 81 accept",
		},
		{
			name: "rule altered by a counter",
			tamper: func(x tamperCtx) {
				r := x.inputRule(2) // ct state invalid drop
				x.h.NFT(x.t, "replace rule inet dcfw input handle "+strconv.FormatUint(x.in[2], 10)+
					` ct state invalid counter drop comment "`+r.Comment+`"`)
			},
			chains: []string{"input", "output"}, untouched: []string{"stamp"},
			diff: "chain input: rule 3 differs: live `# not a dcfw rule: ct bitwise cmp counter immediate",
		},
		{
			name: "rules reordered",
			tamper: func(x tamperCtx) {
				r := x.inputRule(1) // ct state established,related: move it to the end
				x.h.NFT(x.t, "delete rule inet dcfw input handle "+strconv.FormatUint(x.in[1], 10))
				x.h.NFT(x.t, "add rule inet dcfw input "+r.String())
			},
			chains: []string{"input", "output"}, untouched: []string{"stamp"},
			diff: "chain input: rules 2-10 differ",
		},
		{
			name:      "policy changed",
			tamper:    func(x tamperCtx) { x.h.NFTScript(x.t, "chain inet dcfw input { policy accept; }") },
			chains:    []string{"input", "output"}, // a new conntrack mark (conntrack.go)
			untouched: []string{"stamp"},
			diff:      "chain input: policy accept, want drop",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, conn := newFirewallNS(t)
			want := webTable(t)
			mustApply(t, conn, want)
			before := map[string][]uint64{"input": handles(t, conn, "input"), "output": handles(t, conn, "output"), "stamp": handles(t, conn, "stamp")}
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
			// (A chain made again comes last in the kernel's order.)
			if got, w := byName(mustRead(t, conn)), byName(resolved(t, conn, want)); got != w {
				t.Errorf("not repaired:\n%s\nwant:\n%s\nnft:\n%s", got, w, nftList(t, h))
			}
			if res := mustApply(t, conn, want); res.Changed() {
				t.Errorf("Apply after the repair: %+v", res)
			}
		})
	}
}

// Drift repair shown with packets: rules added by hand open a port (in
// both chains: the output chain alone decides the server's answers by
// input's rules, see conntrack.go); the next Apply closes it again.
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
	tp.srv.NFT(t, "insert rule inet dcfw output tcp sport 81 accept")
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

// byName renders t with its chains sorted by name.
func byName(t *Table) string {
	t = copyTable(t)
	slices.SortFunc(t.Chains, func(a, b *Chain) int { return strings.Compare(a.Name, b.Name) })
	return t.String()
}
