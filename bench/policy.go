package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nft"
)

// SteadyLabels are the labels of every synthetic container in the
// steady-state benchmark: a typical service (web ports open to all, ssh and
// metrics from the private network, one blocked and logged range, outbound
// limited to DNS, a database and a cache). They compile into a table of 20
// kernel rules (11 input, 9 output; TestSteadyLabels checks it), the
// "~20 rules" of issue 7.
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

// builtinRules is how many kernel rules a table with a deny input policy
// and an allow output policy has besides the user rules: in each chain
// loopback, established/related, invalid and ICMPv6 neighbour discovery,
// plus the input chain's log rule for the deny policy.
const builtinRules = 9

// SizedLabels are labels whose table has exactly total kernel rules
// (total >= 10): input policy deny, output allow, and total-9 input rules
// of one kernel rule each ("allow proto tcp from 10.a.b.0/24 to any port
// P"). variant changes the port of the middle input rule, so that
// SizedLabels(n, 0) and SizedLabels(n, 1) differ in exactly one kernel rule
// of the input chain.
func SizedLabels(total, variant int) (map[string]string, error) {
	user := total - builtinRules
	if user < 1 {
		return nil, fmt.Errorf("bench: a sized table needs at least %d rules, not %d", builtinRules+1, total)
	}
	l := map[string]string{
		"dcfw.enable":        "true",
		"dcfw.input.policy":  "deny",
		"dcfw.output.policy": "allow",
	}
	for i := range user {
		port := 1024 + i%50000
		if i == user/2 {
			port = 60000 + variant
		}
		l["dcfw.input.rule."+strconv.Itoa(i+1)] = fmt.Sprintf("allow proto tcp from 10.%d.%d.0/24 to any port %d comment r%d",
			(i/256)%256, i%256, port, i+1)
	}
	return l, nil
}

// ContainerID is the synthetic container ID number i: 64 hex digits, like
// the engine's, distinct in their first 12 (the short ID in logs).
func ContainerID(i int) string {
	sum := sha256.Sum256([]byte("dcfw-bench-" + strconv.Itoa(i)))
	return hex.EncodeToString(sum[:])
}

// Table parses the labels and compiles them for container id, as the
// controller does.
func Table(l map[string]string, id string) (*nft.Table, error) {
	p, err := labels.Parse(l)
	if err != nil {
		return nil, fmt.Errorf("bench: labels: %w", err)
	}
	t, err := nft.Compile(p, id)
	if err != nil {
		return nil, fmt.Errorf("bench: compile: %w", err)
	}
	return t, nil
}

// RuleCount is the number of kernel rules of a table (both chains).
func RuleCount(t *nft.Table) int {
	in, out := t.RuleCount()
	return in + out
}
