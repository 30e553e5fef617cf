package nft

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dcfw/dcfw/labels"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestGolden compares the rendering of each compiled policy with its golden
// file. Run `go test ./nft -run TestGolden -update` to regenerate them after
// an intended change, and review the diff.
func TestGolden(t *testing.T) {
	for _, c := range policyCases {
		t.Run(c.name, func(t *testing.T) {
			tbl, err := c.table()
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got := goldenHeader(c) + tbl.String()
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("rendering differs from %s (run with -update if intended):\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

// goldenHeader documents, in the golden file, the labels it was made from.
func goldenHeader(c policyCase) string {
	var b strings.Builder
	for _, l := range strings.Split(c.labels, "\n") {
		b.WriteString("# " + l + "\n")
	}
	return b.String()
}

func TestCompileLayout(t *testing.T) {
	tbl, err := Compile(policyCases[1].policy, testID) // readme-webserver
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range tbl.Chains {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{InputChain, OutputChain, StampChain, UnstampChain}) || tbl.Egress == nil || len(tbl.Egress.Chains) != 0 {
		t.Fatalf("chains: %v, egress %v", names, tbl.Egress)
	}
	for _, c := range tbl.Chains[:2] {
		if !c.Base || c.Type != "filter" || c.Priority != 0 || c.Policy != PolicyDrop {
			t.Errorf("chain %s: %+v", c.Name, c)
		}
		// The builtins before the reply rules (their number depends on
		// the other chain); output first drops flows that only a process
		// bound to the embedded DNS's address would start.
		builtins := []string{commentLoopback, commentReplies, commentInvalid, commentRejectResponses}
		if c.Hook == HookOutput {
			builtins = append([]string{commentForgedDNS}, builtins...)
		}
		for i, want := range builtins {
			if c.Rules[i].Comment != want {
				t.Errorf("chain %s rule %d: comment %q, want %q", c.Name, i+1, c.Rules[i].Comment, want)
			}
		}
		last := c.Rules[len(c.Rules)-1]
		if last.Log == nil || last.Log.Prefix != "[DCFW BLOCK 0123456789ab] " || *last.Limit != logLimit || last.Verdict != Continue {
			t.Errorf("chain %s: last rule is not the BLOCK log rule: %s", c.Name, last.String())
		}
	}
	if tbl.Chains[0].Hook != HookInput || tbl.Chains[1].Hook != HookOutput {
		t.Errorf("hooks: %d %d", tbl.Chains[0].Hook, tbl.Chains[1].Hook)
	}
	// input: 4 builtins, 2 reply rules (output's one rule and its
	// policy), ND, 2 user rules, log; output: 1 + 4, 3, ND, 1, log.
	if in, out := tbl.RuleCount(); in != 10 || out != 11 {
		t.Errorf("RuleCount = %d, %d; want 10, 11", in, out)
	}
	for _, r := range tbl.Chains[0].Rules {
		if r.Comment == "" {
			t.Errorf("rule without comment: %s", r.String())
		}
	}
}

// TestExpansion checks the order and number of kernel rules a label rule
// becomes: protocols × from-addresses × from-ports × to-addresses ×
// to-ports, nested in that order, consecutive, with a log rule before each
// verdict rule.
func TestExpansion(t *testing.T) {
	lr := labels.Rule{
		Label: "dcfw.input.rule.1", Action: labels.Allow, Log: true, Proto: labels.AnyProtocol, Family: labels.IPv4,
		From: labels.Endpoint{Addrs: pfx("10.0.0.1", "10.0.0.2")},
		To:   labels.Endpoint{Ports: ports("80", "90-91")},
	}
	rs, err := expand("input", 0, lr, "id")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.String())
	}
	const c = ` comment "dcfw.input.rule.1"`
	const lg = ` limit rate 3/minute burst 10 packets log prefix "[DCFW ALLOW id] "`
	want := []string{
		"ip saddr 10.0.0.1 tcp dport 80" + lg + c, "ip saddr 10.0.0.1 tcp dport 80 accept" + c,
		"ip saddr 10.0.0.1 tcp dport 90-91" + lg + c, "ip saddr 10.0.0.1 tcp dport 90-91 accept" + c,
		"ip saddr 10.0.0.2 tcp dport 80" + lg + c, "ip saddr 10.0.0.2 tcp dport 80 accept" + c,
		"ip saddr 10.0.0.2 tcp dport 90-91" + lg + c, "ip saddr 10.0.0.2 tcp dport 90-91 accept" + c,
		"ip saddr 10.0.0.1 udp dport 80" + lg + c, "ip saddr 10.0.0.1 udp dport 80 accept" + c,
		"ip saddr 10.0.0.1 udp dport 90-91" + lg + c, "ip saddr 10.0.0.1 udp dport 90-91 accept" + c,
		"ip saddr 10.0.0.2 udp dport 80" + lg + c, "ip saddr 10.0.0.2 udp dport 80 accept" + c,
		"ip saddr 10.0.0.2 udp dport 90-91" + lg + c, "ip saddr 10.0.0.2 udp dport 90-91 accept" + c,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("expansion:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestExpansionCap(t *testing.T) {
	var addrs []string
	for i := range 16 {
		addrs = append(addrs, fmt.Sprintf("10.0.0.%d", i+1))
	}
	var ps []string
	for i := range 16 {
		ps = append(ps, fmt.Sprint(1000+2*i))
	}
	at := labels.Rule{Label: "dcfw.output.rule.9", Action: labels.Allow, Proto: labels.TCP, Family: labels.IPv4,
		To: labels.Endpoint{Addrs: pfx(addrs...), Ports: ports(ps...)}}
	// 16 × 16 = 256: exactly at the cap.
	rs, err := expand("output", 0, at, "id")
	if err != nil || len(rs) != MaxRulesPerLabelRule {
		t.Fatalf("at the cap: %d rules, %v", len(rs), err)
	}
	// The same without a protocol is TCP and UDP: 512, over the cap.
	over := at
	over.Proto = labels.AnyProtocol
	_, err = Compile(enabled(labels.Deny, labels.Deny, nil, []labels.Rule{over}), testID)
	if !errors.Is(err, ErrTooManyRules) || !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("over the cap: err = %v, want ErrTooManyRules and ErrInvalidPolicy", err)
	}
	if !strings.Contains(err.Error(), "dcfw.output.rule.9") || !strings.Contains(err.Error(), "512") {
		t.Errorf("error does not name the label and the count: %v", err)
	}
}

func TestCompileErrors(t *testing.T) {
	ok := labels.Rule{Action: labels.Allow, Proto: labels.AnyProtocol}
	with := func(f func(r *labels.Rule)) labels.Policy {
		r := ok
		f(&r)
		return enabled(labels.Deny, labels.Allow, []labels.Rule{r}, nil)
	}
	for _, c := range []struct {
		name   string
		policy labels.Policy
		want   string
	}{
		{"not enabled", labels.Policy{State: labels.Disabled}, "not enabled"},
		{"no chain policy", labels.Policy{State: labels.Enabled, Input: labels.Chain{Policy: labels.Deny}}, "output policy"},
		{"unknown action", with(func(r *labels.Rule) { r.Action = 9 }), "unknown action"},
		{"port on icmp", with(func(r *labels.Rule) {
			r.Proto, r.Family, r.To.Ports = labels.ICMP, labels.IPv4, ports("80")
		}), "has no ports"},
		{"protocol out of range", with(func(r *labels.Rule) { r.Proto = 256 }), "out of range"},
		{"icmp with ipv6 address", with(func(r *labels.Rule) {
			r.Proto, r.From.Addrs = labels.ICMP, pfx("fd00::1")
		}), "address fd00::1/128 is ipv6"},
		{"mixed families", with(func(r *labels.Rule) {
			r.From.Addrs, r.To.Addrs = pfx("10.0.0.1"), pfx("fd00::1")
		}), "is ipv6 but the rule is ipv4"},
		{"family disagrees", with(func(r *labels.Rule) {
			r.Family, r.From.Addrs = labels.IPv6, pfx("10.0.0.1")
		}), "is ipv4 but the rule is ipv6"},
		{"interface too long", with(func(r *labels.Rule) { r.Iface = "abcdefghijklmnop" }), "longer than 15"},
		{"bad interface", with(func(r *labels.Rule) { r.Iface = "a b" }), "invalid interface"},
		{"bad port range", with(func(r *labels.Rule) {
			r.Proto, r.To.Ports = labels.TCP, []labels.PortRange{{Lo: 9, Hi: 8}}
		}), "invalid port range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tbl, err := Compile(c.policy, testID)
			if tbl != nil || !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("Compile = %v, %v; want nil and ErrInvalidPolicy", tbl, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestCommentsAndIDs(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes
	p := enabled(labels.Deny, labels.Allow, []labels.Rule{{Action: labels.Allow, Proto: labels.AnyProtocol, Comment: long}}, nil)
	tbl, err := Compile(p, "abc") // a short ID is used as it is
	if err != nil {
		t.Fatal(err)
	}
	in := tbl.Chains[0].Rules
	r := in[len(in)-2]
	if len(r.Comment) > maxCommentLen || !strings.HasPrefix(r.Comment, "dcfw.input.rule.1: éé") || !utf8.ValidString(r.Comment) {
		t.Errorf("comment not cut on a character boundary within %d bytes: %d bytes", maxCommentLen, len(r.Comment))
	}
	if got := in[len(in)-1].Log.Prefix; got != "[DCFW BLOCK abc] " {
		t.Errorf("log prefix %q", got)
	}
	for _, r := range tbl.Chains[1].Rules { // the mirrored rule in output
		if r.CtDirection == CtReply && r.Verdict == Accept && (len(r.Comment) > maxCommentLen || !utf8.ValidString(r.Comment)) {
			t.Errorf("reply rule comment not cut: %d bytes", len(r.Comment))
		}
	}
	if n := len(r.userData()); n > 256 {
		t.Errorf("userdata %d bytes, kernel limit 256", n)
	}
}

func TestLockdown(t *testing.T) {
	tbl := Lockdown(testID)
	if tbl.Egress == nil || tbl.Chain(StampChain) == nil || tbl.Chain(UnstampChain) == nil {
		t.Errorf("lockdown without the raw-frame filter:\n%s", tbl)
	}
	for _, c := range tbl.Chains[:2] {
		if c.Policy != PolicyDrop {
			t.Errorf("chain %s policy %s", c.Name, c.Policy)
		}
		var accepts []string
		for _, r := range c.Rules {
			if r.Verdict == Accept {
				accepts = append(accepts, r.String())
			}
		}
		if len(accepts) != 1 || !strings.HasPrefix(accepts[0], "iif \"lo\" accept") && !strings.HasPrefix(accepts[0], "oif \"lo\" accept") {
			t.Errorf("chain %s accepts %q, want only loopback", c.Name, accepts)
		}
	}
}

// TestCompileNamesRefusesInvalidNames: a policy built by hand (not by
// labels.Parse) with a name Parse would not give is refused, not made
// into a set name.
func TestCompileNamesRefusesInvalidNames(t *testing.T) {
	for _, name := range []string{"", "Db", "web_1", "-x", "a..b", "db."} {
		p := enabled(labels.Deny, labels.Allow, []labels.Rule{{Action: labels.Allow, From: labels.Endpoint{Names: []string{name}}}}, nil)
		if tbl, err := CompileNames(p, testID, nil); tbl != nil || !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "invalid name") {
			t.Errorf("name %q: CompileNames = %v, %v; want nil and an invalid name", name, tbl, err)
		}
	}
}
