package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strconv"
	"sync"

	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nft"
)

// SteadyLabels are the labels of every synthetic container in the
// steady-state benchmark: a typical service (web ports open to all, ssh from
// the private network, ping, one blocked and logged range, outbound
// limited to DNS, a database and a cache), 10 kernel rules from the labels.
// Its `table inet dcfw` has 36 kernel rules (RuleCount: 17 input, 16
// output, 3 stamp and unstamp; each verdict rule also stands mirrored for
// replies in the other chain); before the conntrack mark and the raw-frame
// filter it had 20 (11 input, 9 output). TestSteadyLabels checks it.
// `table netdev dcfw` adds one egress chain per interface.
func SteadyLabels() map[string]string {
	return map[string]string{
		"dcfw.enable":        "true",
		"dcfw.input.policy":  "deny",
		"dcfw.input.rule.1":  "allow proto tcp to any port 80,443 comment web",
		"dcfw.input.rule.2":  "allow proto tcp from 10.0.0.0/8 to any port 22 comment ssh",
		"dcfw.input.rule.3":  "allow proto icmp comment ping",
		"dcfw.input.rule.4":  "deny log from 203.0.113.0/24 comment blocked",
		"dcfw.output.policy": "deny",
		"dcfw.output.rule.1": "allow proto udp to 10.0.0.53 port 53 comment dns",
		"dcfw.output.rule.2": "allow proto tcp to 10.0.0.0/8 port 5432 comment db",
		"dcfw.output.rule.3": "allow to 10.0.0.0/8 port 6379 comment cache",
	}
}

// sizedPolicy is the policy of SizedLabels without its rules.
var sizedPolicy = map[string]string{
	"dcfw.enable":        "true",
	"dcfw.input.policy":  "deny",
	"dcfw.output.policy": "allow",
}

// sizedBase is RuleCount of sizedPolicy's table: the rules a sized table
// has besides those its label rules make. Compiled rather than written
// down, so that a layout change moves it with the layout.
var sizedBase = sync.OnceValues(func() (int, error) {
	t, err := Table(sizedPolicy, ContainerID(0))
	if err != nil {
		return 0, err
	}
	return RuleCount(t), nil
})

// SizedLabels are labels whose `table inet dcfw` has exactly total kernel
// rules (RuleCount, all chains): sizedPolicy and k input rules of one
// kernel rule each ("allow proto tcp from 10.a.b.0/24 to any port P"),
// each of them mirrored in the output chain for replies, so 2 rules apiece
// on top of sizedBase; an odd remainder is made up by logging the middle
// rule (a log rule is not mirrored). The smallest is sizedBase + 2 (one
// label rule). variant changes the port of the middle rule, so that
// SizedLabels(n, 0) and SizedLabels(n, 1) differ in that one label rule:
// its kernel rules in the input chain (one, or two when logged) and its
// mirror in the output chain.
func SizedLabels(total, variant int) (map[string]string, error) {
	base, err := sizedBase()
	if err != nil {
		return nil, err
	}
	if total < base+2 {
		return nil, fmt.Errorf("bench: a sized table needs at least %d rules, not %d", base+2, total)
	}
	user, logged := (total-base)/2, (total-base)%2 == 1
	l := maps.Clone(sizedPolicy)
	for i := range user {
		port, log := 1024+i%50000, ""
		if i == user/2 {
			port = 60000 + variant
			if logged {
				log = "log "
			}
		}
		l["dcfw.input.rule."+strconv.Itoa(i+1)] = fmt.Sprintf("allow %sproto tcp from 10.%d.%d.0/24 to any port %d comment r%d",
			log, (i/256)%256, i%256, port, i+1)
	}
	return l, nil
}

// sizedVariantRule is the label of the rule in which SizedLabels(total, 0)
// and SizedLabels(total, 1) differ.
func sizedVariantRule(total int) string {
	base, _ := sizedBase()
	return "dcfw.input.rule." + strconv.Itoa((total-base)/2/2+1)
}

// ContainerID is the synthetic container ID number i: 64 hex digits, like
// the engine's, distinct in their first 12 (the short ID in logs).
func ContainerID(i int) string {
	sum := sha256.Sum256([]byte("dcfw-bench-" + strconv.Itoa(i)))
	return hex.EncodeToString(sum[:])
}

// Table parses the labels and compiles them for container id, as the
// controller does (names, if any, with empty sets: their addresses are
// the namespace's).
func Table(l map[string]string, id string) (*nft.Table, error) {
	p, err := labels.Parse(l)
	if err != nil {
		return nil, fmt.Errorf("bench: labels: %w", err)
	}
	t, err := nft.CompileNames(p, id, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: compile: %w", err)
	}
	return t, nil
}

// RuleCount is the number of kernel rules of `table inet dcfw`, all its
// chains (input, output, stamp, unstamp), what the figures call a table's
// rules. The egress chains of `table netdev dcfw` are not counted: their
// number follows the namespace's interfaces, not the policy.
func RuleCount(t *nft.Table) int {
	n := 0
	for _, c := range t.Chains {
		n += len(c.Rules)
	}
	return n
}
