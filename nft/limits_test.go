package nft

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"

	"github.com/dcfw/dcfw/labels"
)

// listRules is n label rules of direction input, each listing addrs source
// addresses and nPorts destination ports, with proto tcp: addrs × nPorts
// kernel rules each.
func listRules(n, addrs, nPorts int) []labels.Rule {
	rs := make([]labels.Rule, n)
	for i := range rs {
		var as, ps []string
		for j := range addrs {
			as = append(as, fmt.Sprintf("10.%d.%d.%d", i/256, i%256, j+1))
		}
		for j := range nPorts {
			ps = append(ps, fmt.Sprint(1000+2*j))
		}
		rs[i] = labels.Rule{Label: fmt.Sprintf("dcfw.input.rule.%d", i), Action: labels.Allow, Proto: labels.TCP,
			Family: labels.IPv4, From: labels.Endpoint{Addrs: pfx(as...)}, To: labels.Endpoint{Ports: ports(ps...)}}
	}
	return rs
}

func TestTableCap(t *testing.T) {
	// Exactly at the cap: label rules of 256 kernel rules, and one of the
	// rest.
	perSide := (MaxTableRules - maxBuiltinRules) / 2
	full := perSide / 256
	rules := listRules(full, 16, 16)
	extra := listRules(full+1, perSide-full*256, 1)[full]
	rules = append(rules, extra)
	tbl, err := Compile(enabled(labels.Deny, labels.Allow, rules, nil), testID)
	if err != nil {
		t.Fatalf("at the cap: %v", err)
	}
	n := 0
	for _, c := range tbl.Chains {
		n += len(c.Rules)
	}
	if n > MaxTableRules || n < MaxTableRules-maxBuiltinRules {
		t.Fatalf("at the cap: %d kernel rules, want at most %d and near it", n, MaxTableRules)
	}

	// One more, in the other chain.
	over := enabled(labels.Deny, labels.Allow, rules, []labels.Rule{{Action: labels.Allow, Proto: labels.AnyProtocol}})
	_, err = Compile(over, testID)
	if !errors.Is(err, ErrTableTooLarge) || !errors.Is(err, ErrInvalidPolicy) || errors.Is(err, ErrTooManyRules) {
		t.Fatalf("over the cap: %v", err)
	}
	want := fmt.Sprintf("from the labels: input %d, output 1, each also mirrored for replies), at most %d per namespace", perSide, MaxTableRules)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}

	// A label rule over its own cap is reported as such, naming it.
	big := listRules(1, 16, 17)
	_, err = Compile(enabled(labels.Deny, labels.Allow, append(listRules(30, 16, 16), big...), nil), testID)
	if !errors.Is(err, ErrTooManyRules) || errors.Is(err, ErrTableTooLarge) {
		t.Errorf("a label rule over its cap in a large table: %v", err)
	}
}

// The bomb that stalled dcfw: 400 label rules of 16 addresses × 16 ports,
// 102,400 kernel rules. Refused from the counts, before building any.
func TestTableBomb(t *testing.T) {
	p := enabled(labels.Deny, labels.Allow, listRules(400, 16, 16), nil)
	allocs := testing.AllocsPerRun(3, func() {
		if _, err := Compile(p, testID); !errors.Is(err, ErrTableTooLarge) {
			t.Fatalf("bomb: %v", err)
		}
	})
	if allocs > 20 {
		t.Errorf("refusing the bomb made %v allocations; it should not build rules", allocs)
	}
	_, err := Compile(p, testID)
	if !strings.Contains(err.Error(), "up to 204832 kernel rules (from the labels: input 102400, output 0,") {
		t.Errorf("error %q", err)
	}
}

// kernelRules must count exactly what expand builds, or the caps are off.
func TestKernelRulesMatchesExpand(t *testing.T) {
	var rules []labels.Rule
	for _, c := range policyCases {
		rules = append(rules, c.policy.Input.Rules...)
		rules = append(rules, c.policy.Output.Rules...)
	}
	for _, a := range []labels.Action{labels.Allow, labels.Deny, labels.Reject} {
		for _, log := range []bool{false, true} {
			for _, proto := range []labels.Protocol{labels.AnyProtocol, labels.TCP, labels.UDP, labels.ICMP} {
				r := labels.Rule{Action: a, Log: log, Proto: proto, From: labels.Endpoint{Addrs: pfx("10.0.0.1", "10.0.0.3")}}
				if proto.HasPorts() {
					r.To.Ports = ports("80", "443")
				}
				if proto == labels.ICMP {
					r.Family = labels.IPv4
				}
				rules = append(rules, r)
			}
		}
	}
	for i, r := range rules {
		rs, err := expand("input", i, r, "id")
		if err != nil {
			continue
		}
		if n := kernelRules(r); n != uint64(len(rs)) {
			t.Errorf("%s: kernelRules %d, expand made %d", r, n, len(rs))
		}
	}
}

func TestSaturation(t *testing.T) {
	// Four lists of 2^16 elements: 2^64 combinations, which wraps to 0 in
	// plain uint64 arithmetic and would pass every cap.
	r := labels.Rule{Action: labels.Allow, Proto: labels.TCP}
	for _, l := range []*[]netip.Prefix{&r.From.Addrs, &r.To.Addrs} {
		*l = make([]netip.Prefix, 1<<16)
	}
	for _, l := range []*[]labels.PortRange{&r.From.Ports, &r.To.Ports} {
		*l = make([]labels.PortRange, 1<<16)
	}
	if n := kernelRules(r); n != math.MaxUint64 {
		t.Errorf("kernelRules = %d, want saturated", n)
	}
	if satAdd(math.MaxUint64-1, 5) != math.MaxUint64 || satAdd(2, 3) != 5 || satMul(1<<32, 1<<32) != math.MaxUint64 || satMul(0, 7) != 0 {
		t.Error("satAdd/satMul")
	}
}

// BenchmarkCompileBomb: refusing the 102,400-rule policy, against compiling
// one at the cap.
func BenchmarkCompileBomb(b *testing.B) {
	for _, c := range []struct {
		name  string
		rules []labels.Rule
	}{
		{"400x16x16", listRules(400, 16, 16)},
		{"at-cap-19x16x16", listRules(19, 16, 16)},
	} {
		p := enabled(labels.Deny, labels.Allow, c.rules, nil)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				Compile(p, testID)
			}
		})
	}
}
