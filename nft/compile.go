package nft

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/labels"
)

// MaxRulesPerLabelRule caps how many kernel rules one label rule may expand
// into. Addresses and ports are not put in sets, so `from A,B port 1,2 to
// C` becomes one kernel rule per combination (see Compile); a name is one
// set lookup, counted like one address. The cap keeps one label from
// turning a namespace's ruleset into tens of thousands of rules; a rule
// over it is an error, never silently cut short.
const MaxRulesPerLabelRule = 256

// MaxTableRules caps the kernel rules of one namespace: both chains, the
// built-in rules included. Label rules with lists multiply (400 label rules
// of 16 addresses × 16 ports are 102,400 kernel rules), and writing and
// reading rules costs time and memory in dcfw and the kernel, linear in
// their number: measured with the kernel benchmarks (2 cores), a first
// Apply costs about 50 µs and 19 KB of allocation per rule and an Apply
// that changes nothing about 25 µs, so 5,000 rules take about 0.25 s and
// 95 MB to write and 0.12 s to check, and 10,000 about 0.75 s and 190 MB.
// 5,000 keeps an Apply well under a second, and is 20 label rules at
// MaxRulesPerLabelRule.
const MaxTableRules = 5000

// Errors of Compile. Every error Compile returns wraps ErrInvalidPolicy;
// one about the expansion cap of a label rule also wraps ErrTooManyRules,
// one about the cap of the whole table ErrTableTooLarge, one about names
// without addresses ErrNeedsAddresses.
var (
	ErrInvalidPolicy = errors.New("policy cannot be compiled")
	ErrTooManyRules  = errors.New("rule expands into too many kernel rules")
	ErrTableTooLarge = errors.New("policy needs too many kernel rules")
	// ErrNeedsAddresses: Compile was given a policy whose rules use
	// names; CompileNames compiles it with their addresses.
	ErrNeedsAddresses = errors.New("rules use names, whose addresses were not given")
)

// Logging of user `log` rules and of the default policy: the original
// DCFW's prefixes (people filter the kernel log on them) and rate.
var logLimit = Limit{Rate: 3, Unit: PerMinute, Burst: 10}

const (
	allowLogPrefix = "[DCFW ALLOW %s] "
	blockLogPrefix = "[DCFW BLOCK %s] "
)

// maxCommentLen caps rule comments (in bytes). The kernel keeps at most 256
// bytes of userdata per rule; label comments are at most 128 bytes, so this
// only cuts a comment when the label key itself is absurdly long.
const maxCommentLen = 200

// Comments of the built-in rules.
const (
	commentLoopback        = "dcfw: loopback"
	commentForgedDNS       = "dcfw: embedded dns is the engine's"
	commentReplies         = "dcfw: established,related"
	commentInvalid         = "dcfw: invalid"
	commentND              = "dcfw: ipv6 neighbour discovery"
	commentPolicyAccept    = "dcfw: policy accept"
	commentRejectResponses = "dcfw: reject responses"
	commentLogDeny         = "dcfw: log policy deny"
	commentLogReject       = "dcfw: log policy reject"
	commentRejectTCP       = "dcfw: policy reject tcp"
	commentReject          = "dcfw: policy reject"
	commentLockdown        = "dcfw: lockdown, loopback only"
	commentLockdownLog     = "dcfw: log lockdown"
)

// Compile turns an enabled policy into the desired table (layout in the
// package doc):
//
//	loopback accept; ct state established,related accept; ct state invalid
//	drop; ICMPv6 ND/RS/RA (types 133-136) accept; the user rules in label
//	order; for deny/reject a rate-limited BLOCK log rule; for reject
//	`meta l4proto tcp reject with tcp reset` and `reject`.
//
// Each label rule becomes one kernel rule per combination of protocol ×
// from-address × from-port × to-address × to-port (in that order of
// nesting, all consecutive). `port` without a protocol means TCP and UDP.
// A `reject` rule answers TCP with a reset and everything else with an
// ICMP(v6) port-unreachable, so a reject rule that may match TCP and other
// protocols becomes two kernel rules. A `log` rule puts a rate-limited log
// rule right before the verdict rule(s) of each combination.
//
// containerID gives the log prefixes (its first 12 characters).
//
// Compile checks what it relies on rather than trusting the caller: a
// policy that is not Enabled, an unknown action, ports on a protocol
// without ports, addresses or protocols of the wrong family, a bad
// interface name, or a label rule that would expand into more than
// MaxRulesPerLabelRule kernel rules are errors (wrapping ErrInvalidPolicy);
// the caller should lock the namespace down. So is a policy whose table
// would have more than MaxTableRules kernel rules (ErrTableTooLarge); that
// is counted from the lengths of the lists before any rule is built, so a
// policy of a million kernel rules costs no more to refuse than a small one.
// Compile never drops a rule.
//
// A policy whose rules use names needs their addresses: Compile refuses it
// (ErrNeedsAddresses) and CompileNames takes them. A caller that does not
// resolve names thus locks such a container down rather than compiling a
// deny rule that matches nothing.
func Compile(p labels.Policy, containerID string) (*Table, error) {
	if names := p.Names(); len(names) > 0 {
		return nil, fmt.Errorf("%w: %w: %s", ErrInvalidPolicy, ErrNeedsAddresses, strings.Join(names, ", "))
	}
	return CompileNames(p, containerID, nil)
}

// CompileNames is Compile for a policy whose rules use names: each name a
// rule matches becomes a set per family the rule needs (see sets.go),
// filled with the name's addresses from addrs. The chains depend only on
// the policy, never on addrs, so a change of addresses alone makes Apply
// write only set elements.
func CompileNames(p labels.Policy, containerID string, addrs NameAddrs) (*Table, error) {
	if p.State != labels.Enabled {
		return nil, fmt.Errorf("%w: state is %d, not enabled", ErrInvalidPolicy, p.State)
	}
	nIn, inOver := labelKernelRules(p.Input)
	nOut, outOver := labelKernelRules(p.Output)
	// A label rule over its own cap gets the error that names it, from expand.
	if total := tableRules(nIn, nOut); !inOver && !outOver && total > MaxTableRules {
		return nil, fmt.Errorf("%w: %w: up to %d kernel rules (from the labels: input %d, output %d, each also mirrored for replies), at most %d per namespace; "+
			"use fewer rules or shorter lists (each combination of list elements is a kernel rule)",
			ErrInvalidPolicy, ErrTableTooLarge, total, nIn, nOut, MaxTableRules)
	}
	id := engine.ShortID(containerID)
	inRules, err := userRules(InputChain, p.Input, id)
	if err != nil {
		return nil, err
	}
	outRules, err := userRules(OutputChain, p.Output, id)
	if err != nil {
		return nil, err
	}
	in, err := compileChain(InputChain, HookInput, p.Input.Policy, inRules, p.Output.Policy, outRules, id)
	if err != nil {
		return nil, err
	}
	out, err := compileChain(OutputChain, HookOutput, p.Output.Policy, outRules, p.Input.Policy, inRules, id)
	if err != nil {
		return nil, err
	}
	t := &Table{
		Chains: append([]*Chain{in, out}, stampChains()...),
		Sets:   nameSets(p, in, out),
		Egress: &Table{},
	}
	if len(t.Sets) == 0 {
		return t, nil
	}
	return t.WithAddrs(addrs), nil
}

// Lockdown is the fail-closed table for a namespace whose labels are wrong:
// both chains drop everything except loopback, and log what they drop
// (rate-limited, BLOCK prefix).
func Lockdown(containerID string) *Table {
	id := engine.ShortID(containerID)
	mk := func(name string, hook Hook) *Chain {
		lo := Rule{Iif: 1, L4Proto: NoProto, Verdict: Accept, Comment: commentLockdown}
		if hook == HookOutput {
			lo.Iif, lo.Oif = 0, 1
		}
		var rules []Rule
		if hook == HookOutput {
			rules = embeddedDNSGuard()
		}
		return &Chain{
			Name: name, Base: true, Type: "filter", Hook: hook, Policy: PolicyDrop,
			Rules: append(rules, lo, blockLog(id, commentLockdownLog)),
		}
	}
	return &Table{
		Chains: append([]*Chain{mk(InputChain, HookInput), mk(OutputChain, HookOutput)}, stampChains()...),
		Egress: &Table{},
	}
}

// embeddedDNS is where the engine's DNS answers in a container's namespace.
var embeddedDNS = netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, 0, 11}), 32)

// embeddedDNSGuard drops new flows from 127.0.0.11, which only a process of
// the container bound to that address sends (nothing else picks it as a
// source): from port 53 it would turn a query to the engine's DNS into the
// reply direction of its own flow, past the engine's NAT, and answer it
// itself (dcfw resolves names there). The engine's answers are replies,
// never new. Before loopback's accept.
func embeddedDNSGuard() []Rule {
	return []Rule{{Family: IPv4, Saddr: embeddedDNS, L4Proto: NoProto, CtState: CtNew, Verdict: Drop, Comment: commentForgedDNS}}
}

func blockLog(id, comment string) Rule {
	l := logLimit
	return Rule{L4Proto: NoProto, Limit: &l, Log: &Log{Prefix: fmt.Sprintf(blockLogPrefix, id)}, Comment: comment}
}

// userRules expands the label rules of one chain; accepting rules also
// mark the connection with the ruleset's conntrack mark (conntrack.go).
func userRules(name string, lc labels.Chain, id string) ([]Rule, error) {
	var rs []Rule
	for i, lr := range lc.Rules {
		ex, err := expand(name, i, lr, id)
		if err != nil {
			return nil, err
		}
		rs = append(rs, ex...)
	}
	for i := range rs {
		if rs[i].Verdict == Accept {
			rs[i].ConnMark = SetMark
		}
	}
	return rs, nil
}

// compileChain builds one filter chain from its policy and user rules, and
// the policy and user rules of the other chain (for the replies of
// connections that began in the other direction, see conntrack.go).
func compileChain(name string, hook Hook, policy labels.Action, rules []Rule, otherPolicy labels.Action, otherRules []Rule, id string) (*Chain, error) {
	c := &Chain{Name: name, Base: true, Type: "filter", Hook: hook}
	switch policy {
	case labels.Allow, labels.Deny, labels.Reject:
	default:
		// (The other chain's policy is checked when that chain is built.)
		return nil, fmt.Errorf("%w: %s policy: unknown action %d", ErrInvalidPolicy, name, policy)
	}
	c.Policy = PolicyDrop
	if policy == labels.Allow {
		c.Policy = PolicyAccept
	}
	lo := Rule{L4Proto: NoProto, Verdict: Accept, Comment: commentLoopback}
	if hook == HookInput {
		lo.Iif = 1
	} else {
		lo.Oif = 1
		c.Rules = append(c.Rules, embeddedDNSGuard()...)
	}
	c.Rules = append(c.Rules,
		lo,
		Rule{L4Proto: NoProto, CtState: CtEstablished | CtRelated, ConnMark: MatchMark, Verdict: Accept, Comment: commentReplies},
		Rule{L4Proto: NoProto, CtState: CtInvalid, Verdict: Drop, Comment: commentInvalid},
		Rule{L4Proto: NoProto, CtState: CtRelated, CtUnconfirmed: true, Verdict: Accept, Comment: commentRejectResponses},
	)
	c.Rules = append(c.Rules, replyRules(otherRules, otherPolicy)...)
	c.Rules = append(c.Rules,
		Rule{Family: IPv6, L4Proto: protoICMPv6, ICMPType: Range{133, 136}, Verdict: Accept, Comment: commentND},
	)
	c.Rules = append(c.Rules, rules...)
	switch policy {
	case labels.Allow:
		c.Rules = append(c.Rules, Rule{L4Proto: NoProto, ConnMark: SetMark, Verdict: Accept, Comment: commentPolicyAccept})
	case labels.Deny:
		c.Rules = append(c.Rules, blockLog(id, commentLogDeny))
	case labels.Reject:
		c.Rules = append(c.Rules,
			blockLog(id, commentLogReject),
			Rule{L4Proto: protoTCP, Verdict: RejectTCPReset, Comment: commentRejectTCP},
			Rule{L4Proto: NoProto, Verdict: RejectPortUnreachable, Comment: commentReject},
		)
	}
	return c, nil
}

// expand turns label rule number i of chain dir into its kernel rules.
func expand(dir string, i int, lr labels.Rule, id string) ([]Rule, error) {
	label := lr.Label
	if label == "" {
		label = "dcfw." + dir + ".rule#" + strconv.Itoa(i+1)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidPolicy, label, fmt.Sprintf(format, args...))
	}

	var verdict Verdict
	logPrefix := allowLogPrefix
	switch lr.Action {
	case labels.Allow:
		verdict = Accept
	case labels.Deny:
		verdict, logPrefix = Drop, blockLogPrefix
	case labels.Reject:
		verdict, logPrefix = RejectPortUnreachable, blockLogPrefix
	default:
		return nil, bad("unknown action %d", lr.Action)
	}

	hasPortList := len(lr.From.Ports) > 0 || len(lr.To.Ports) > 0
	var protos []int16
	switch {
	case lr.Proto == labels.AnyProtocol && hasPortList:
		protos = []int16{protoTCP, protoUDP}
	case lr.Proto == labels.AnyProtocol:
		protos = []int16{NoProto}
	case lr.Proto >= 0 && lr.Proto <= 255:
		protos = []int16{int16(lr.Proto)}
		if hasPortList && !hasPorts(int16(lr.Proto)) {
			return nil, bad("protocol %s has no ports", protoName(int16(lr.Proto)))
		}
	default:
		return nil, bad("protocol %d out of range", lr.Proto)
	}

	// The family: from the label layer, the protocol and the addresses;
	// they must agree (one rule is one family, or both).
	fam := AnyFamily
	agree := func(f Family, what string) error {
		switch {
		case f == AnyFamily || f == fam:
		case fam == AnyFamily:
			fam = f
		default:
			return bad("%s is %s but the rule is %s", what, familyName(f), familyName(fam))
		}
		return nil
	}
	var errs []error
	errs = append(errs, agree(map[labels.Family]Family{labels.IPv4: IPv4, labels.IPv6: IPv6}[lr.Family], "the rule's family"))
	switch lr.Proto {
	case labels.ICMP:
		errs = append(errs, agree(IPv4, "protocol icmp"))
	case labels.ICMPv6:
		errs = append(errs, agree(IPv6, "protocol icmpv6"))
	}
	for _, n := range append(slices.Clone(lr.From.Names), lr.To.Names...) {
		if !labels.ValidName(n) {
			errs = append(errs, bad("invalid name %q", n))
		}
	}
	for _, a := range append(append([]netip.Prefix(nil), lr.From.Addrs...), lr.To.Addrs...) {
		if !a.IsValid() {
			errs = append(errs, bad("invalid address"))
			continue
		}
		errs = append(errs, agree(addrFamily(a), "address "+a.String()))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	var ifname Iface
	if lr.Iface != "" {
		var err error
		if ifname, err = parseIface(lr.Iface); err != nil {
			return nil, bad("%v", err)
		}
	}
	for _, pr := range append(append([]labels.PortRange(nil), lr.From.Ports...), lr.To.Ports...) {
		if pr.Lo == 0 || pr.Lo > pr.Hi {
			return nil, bad("invalid port range %d-%d", pr.Lo, pr.Hi)
		}
	}

	total := kernelRules(lr)
	if total > MaxRulesPerLabelRule {
		return nil, fmt.Errorf("%w: %s: %w: %d kernel rules (at most %d per label rule; split the rule)",
			ErrInvalidPolicy, label, ErrTooManyRules, total, MaxRulesPerLabelRule)
	}

	comment := label
	if lr.Comment != "" {
		comment += ": " + lr.Comment
	}
	comment = truncate(comment, maxCommentLen)

	base := Rule{Family: fam, Comment: comment}
	if dir == InputChain {
		base.IifName = ifname
	} else {
		base.OifName = ifname
	}
	// A name has no family: in a rule for both families it is matched
	// once per family, each against that family's set.
	fams := []Family{fam}
	if fam == AnyFamily && lr.HasNames() {
		fams = []Family{IPv4, IPv6}
	}
	out := make([]Rule, 0, total)
	for _, fp := range familyProtos(fams, protos) {
		f, proto := fp.family, fp.proto
		for _, sa := range addrMatches(lr.From, f) {
			for _, sp := range orAnyPort(lr.From.Ports) {
				for _, da := range addrMatches(lr.To, f) {
					for _, dp := range orAnyPort(lr.To.Ports) {
						r := base
						r.Family = f
						r.L4Proto = proto
						r.Saddr, r.Daddr = sa.prefix, da.prefix
						r.SaddrSet, r.DaddrSet = sa.set, da.set
						r.Sport, r.Dport = sp, dp
						if lr.Log {
							l := logLimit
							lg := r
							lg.Limit, lg.Log = &l, &Log{Prefix: fmt.Sprintf(logPrefix, id)}
							out = append(out, lg)
						}
						out = append(out, verdictRules(r, verdict)...)
					}
				}
			}
		}
	}
	return out, nil
}

// kernelRules is how many kernel rules expand makes of lr, from the lengths
// of its lists, without building them. It saturates rather than wrapping
// around: a product of long lists that wrapped to a small number would
// pass the caps.
func kernelRules(lr labels.Rule) uint64 {
	hasPortList := len(lr.From.Ports) > 0 || len(lr.To.Ports) > 0
	protos := uint64(1)
	if lr.Proto == labels.AnyProtocol && hasPortList {
		protos = 2 // TCP and UDP
	}
	// Rules per combination: the verdict rule(s) and maybe a log rule.
	perCombo := uint64(1)
	if lr.Action == labels.Reject && lr.Proto == labels.AnyProtocol && !hasPortList {
		perCombo = 2 // TCP reset, then port-unreachable for the rest
	}
	if lr.Log {
		perCombo++
	}
	total := protos * perCombo
	if lr.HasNames() && lr.Family == labels.BothFamilies {
		total *= 2 // one rule per family (see expand)
	}
	// A name is one set match, whatever its addresses: it counts like
	// one address.
	for _, n := range []int{len(lr.From.Addrs) + len(lr.From.Names), len(lr.From.Ports), len(lr.To.Addrs) + len(lr.To.Names), len(lr.To.Ports)} {
		total = satMul(total, uint64(max(n, 1)))
	}
	return total
}

// maxBuiltinRules bounds the rules of a table that do not come from label
// rules (loopback, conntrack, neighbour discovery, policy log and reject,
// the stamp chains), all chains together.
const maxBuiltinRules = 32

// tableRules bounds the kernel rules of a table whose chains get nIn and
// nOut rules from labels: each verdict rule also stands mirrored in the
// other chain, for reply-direction packets (conntrack.go).
func tableRules(nIn, nOut uint64) uint64 {
	user := satAdd(nIn, nOut)
	return satAdd(satAdd(user, user), maxBuiltinRules)
}

// labelKernelRules counts the kernel rules the label rules of one chain
// become (log rules included), saturating, and whether a label rule is
// over MaxRulesPerLabelRule.
func labelKernelRules(lc labels.Chain) (n uint64, overCap bool) {
	for _, lr := range lc.Rules {
		k := kernelRules(lr)
		overCap = overCap || k > MaxRulesPerLabelRule
		n = satAdd(n, k)
	}
	return n, overCap
}

func satMul(a, b uint64) uint64 {
	if a != 0 && b > math.MaxUint64/a {
		return math.MaxUint64
	}
	return a * b
}

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// verdictRules returns the rule(s) giving match r its verdict.
func verdictRules(r Rule, v Verdict) []Rule {
	if v != RejectPortUnreachable {
		r.Verdict = v
		return []Rule{r}
	}
	switch r.L4Proto {
	case protoTCP:
		r.Verdict = RejectTCPReset
		return []Rule{r}
	case NoProto:
		tcp := r
		tcp.L4Proto, tcp.Verdict = protoTCP, RejectTCPReset
		r.Verdict = RejectPortUnreachable
		return []Rule{tcp, r}
	}
	r.Verdict = RejectPortUnreachable
	return []Rule{r}
}

func addrFamily(p netip.Prefix) Family {
	if p.Addr().Is4() || p.Addr().Is4In6() {
		return IPv4
	}
	return IPv6
}

// orAny returns the addresses to expand over: the list, with zero-length
// prefixes as "any" (the family match stays), or one "any".
func orAny(ps []netip.Prefix) []netip.Prefix {
	if len(ps) == 0 {
		return []netip.Prefix{{}}
	}
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		if p.Bits() > 0 {
			out[i] = p.Masked()
		}
	}
	return out
}

func orAnyPort(ps []labels.PortRange) []Range {
	if len(ps) == 0 {
		return []Range{{}}
	}
	out := make([]Range, len(ps))
	for i, p := range ps {
		out[i] = Range{Lo: p.Lo, Hi: p.Hi}
	}
	return out
}

// parseIface turns the `on` value into a name match: a trailing '*' is a
// prefix wildcard; "*" alone matches every interface.
func parseIface(s string) (Iface, error) {
	i := Iface{Name: s}
	if n := len(s); n > 0 && s[n-1] == '*' {
		i = Iface{Name: s[:n-1], Prefix: true}
	}
	if len(i.Name) >= ifNameSize {
		return Iface{}, fmt.Errorf("interface name %q longer than %d bytes", s, ifNameSize-1)
	}
	for _, c := range []byte(i.Name) {
		if c == 0 || c == '/' || c == '*' || c <= ' ' {
			return Iface{}, fmt.Errorf("invalid interface name %q", s)
		}
	}
	if i.Name == "" {
		return Iface{}, nil // "*": any interface
	}
	return i, nil
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
