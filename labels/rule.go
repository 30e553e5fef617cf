package labels

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"
)

// clause is a keyword of the rule grammar after the action.
type clause uint8

const (
	clauseNone clause = iota
	clauseLog
	clauseOn
	clauseProto
	clauseFrom
	clauseTo
	clausePort
	clauseComment
	// clauseSkipped marks tokens skipped after an unknown keyword; a `port`
	// right after them is not blamed for its position (the unknown word was
	// probably a misspelt from or to).
	clauseSkipped
)

// clauseWords in grammar order; also the "did you mean" candidates.
var clauseWords = []string{"log", "on", "proto", "from", "to", "port", "comment"}

var clauseByWord = map[string]clause{
	"log": clauseLog, "on": clauseOn, "proto": clauseProto, "from": clauseFrom,
	"to": clauseTo, "port": clausePort, "comment": clauseComment,
}

// clauseAliases are other firewalls' words for our keywords (ufw, iptables,
// nft): offered as suggestions, never accepted.
var clauseAliases = map[string]string{
	"protocol": "proto", "ports": "port", "dport": "port", "sport": "port",
	"src": "from", "source": "from", "saddr": "from",
	"dst": "to", "dest": "to", "destination": "to", "daddr": "to",
	"iface": "on", "interface": "on", "iifname": "on", "oifname": "on", "dev": "on",
	"logging": "log",
}

var actionWords = []string{"allow", "deny", "reject"}

var actionAliases = map[string]string{
	"accept": "allow", "permit": "allow", "pass": "allow",
	"drop": "deny", "block": "deny",
}

// isClauseKeyword reports whether s is a clause keyword in any case. Such a
// word is never taken as a value (an interface, a one-word comment), so a
// forgotten value is reported instead of swallowing the next clause.
func isClauseKeyword(s string) bool {
	_, ok := clauseByWord[strings.ToLower(s)]
	return ok
}

// parseAction reads allow, deny or reject in any case.
func parseAction(s string) (Action, bool) {
	switch strings.ToLower(s) {
	case "allow":
		return Allow, true
	case "deny":
		return Deny, true
	case "reject":
		return Reject, true
	}
	return 0, false
}

// endpointState collects one side (`from` or `to`) while parsing.
type endpointState struct {
	addrs   []addrAt
	names   []nameAt
	ports   []PortRange
	portTok *token // the `port` keyword, for conflict errors
}

// ruleParser holds the state of parsing one rule text.
type ruleParser struct {
	text     string
	toks     []token
	i        int // next token
	errs     *labelErrors
	rule     Rule
	seen     map[clause]token // first keyword token of each clause given
	from, to endpointState
}

// ParseRule parses one rule (the value of a dcfw.input.rule.N or
// dcfw.output.rule.N label) into its canonical form. The grammar does not
// depend on the direction. On error the Rule is the zero value and the
// error is an Errors listing the problems found, each with Key "", within
// the limits Parse keeps (MaxValueLen, MaxErrorsPerLabel).
func ParseRule(text string) (Rule, error) {
	if len(text) > MaxValueLen {
		return Rule{}, Errors{tooLong("", text, "")}
	}
	var errs labelErrors
	r, ok := parseRule(text, &errs)
	if !ok {
		return Rule{}, errs.list("", text)
	}
	return r, nil
}

// parseRule parses a rule text of at most MaxValueLen bytes, adding its
// problems to errs; ok is false when it found any.
func parseRule(text string, errs *labelErrors) (r Rule, ok bool) {
	r, _, ok = parseRuleNames(text, errs)
	return r, ok
}

// parseRuleNames is parseRule that also returns where each name was
// written, in order of position (for the names limit of Parse).
func parseRuleNames(text string, errs *labelErrors) (r Rule, names []nameAt, ok bool) {
	before := errs.total()
	toks := tokenize(text, errs)
	if errs.total() > before {
		// Quoting errors make every later token boundary a guess: report
		// only them.
		return Rule{}, nil, false
	}
	p := &ruleParser{text: text, toks: toks, errs: errs, seen: map[clause]token{}}
	if len(toks) == 0 {
		p.fail(0, "", ErrSyntax, "empty rule", "a rule starts with allow, deny or reject")
		return Rule{}, nil, false
	}
	p.rule.Proto = AnyProtocol
	p.parseAction()
	p.parseClauses()
	if errs.total() == before {
		// Conflicts are only meaningful between parts that all parsed.
		p.checkConflicts()
	}
	if errs.total() > before {
		// errs keeps them in order of position: people read left to right
		// (a list reports `any` after its other elements).
		return Rule{}, nil, false
	}
	p.rule.From = p.from.endpoint()
	p.rule.To = p.to.endpoint()
	names = append(append(names, p.from.names...), p.to.names...)
	slices.SortFunc(names, func(a, b nameAt) int { return a.off - b.off })
	return p.rule, names, true
}

func (e *endpointState) endpoint() Endpoint {
	ps := make([]netip.Prefix, len(e.addrs))
	for i, a := range e.addrs {
		ps[i] = a.prefix
	}
	return Endpoint{Addrs: canonicalPrefixes(ps), Names: canonicalNames(e.names), Ports: canonicalPorts(e.ports)}
}

// fail records a problem at byte offset off of the rule text.
// The returned error may still be given a Suggestion.
func (p *ruleParser) fail(off int, tok string, sentinel error, msg, hint string) *Error {
	return p.errs.add(Error{Value: p.text, Offset: off, Token: tok, Msg: msg, Hint: hint, Err: sentinel})
}

// column is the 1-based character column of byte offset off, for messages
// that refer to a second place in the rule.
func (p *ruleParser) column(off int) int {
	return utf8.RuneCountInString(p.text[:off]) + 1
}

func (p *ruleParser) parseAction() {
	t := p.toks[0]
	if a, ok := parseAction(t.val); ok && !t.quoted {
		p.rule.Action = a
		p.i = 1
		return
	}
	if !t.quoted && isClauseKeyword(t.val) {
		// The action is missing; parse the clauses anyway to find more.
		p.fail(t.off, t.raw, ErrSyntax, "missing action", "a rule starts with allow, deny or reject")
		return
	}
	p.fail(t.off, t.raw, ErrSyntax, fmt.Sprintf("unknown action %s", quoteTok(t.raw)),
		"a rule starts with allow, deny or reject").Suggestion = suggest(t.val, actionWords, actionAliases)
	p.i = 1
}

func (p *ruleParser) parseClauses() {
	prev := clauseNone // the clause that ended right before the current token
	var portTarget *endpointState
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		c := clauseByWord[strings.ToLower(t.val)]
		if t.quoted || c == clauseNone {
			p.unknownKeyword(t, prev)
			// Skip to the next keyword: the unknown word's values, if it
			// had any, cannot be told apart from further mistakes.
			p.i++
			for p.i < len(p.toks) && (p.toks[p.i].quoted || !isClauseKeyword(p.toks[p.i].val)) {
				p.i++
			}
			prev, portTarget = clauseSkipped, nil
			continue
		}
		p.i++
		_, dup := p.seen[c]
		if dup && c != clausePort {
			p.fail(t.off, t.raw, ErrSyntax, fmt.Sprintf("%q given twice", strings.ToLower(t.val)),
				fmt.Sprintf("first at column %d", p.column(p.seen[c].off)))
		} else if !dup {
			p.seen[c] = t
		}
		switch c {
		case clauseLog:
			p.rule.Log = true
		case clauseOn:
			if v, ok := p.value(t, "interface name", `leave out "on" to match every interface`); ok {
				if msg, hint := checkIface(v.val); msg != "" {
					p.fail(v.off, v.raw, ErrValue, msg, hint)
				} else if !dup {
					p.rule.Iface = v.val
				}
			}
		case clauseProto:
			if v, ok := p.value(t, "protocol", ""); ok {
				proto, msg, sugg := parseProtocol(v.val)
				if msg != "" {
					hint := "a name such as tcp, udp, icmp, or a number 0..255"
					p.fail(v.off, v.raw, ErrValue, msg, hint).Suggestion = sugg
				} else if !dup {
					p.rule.Proto = proto
				}
			}
		case clauseFrom, clauseTo:
			ep := &p.from
			if c == clauseTo {
				ep = &p.to
			}
			portTarget = nil
			if !dup {
				portTarget = ep
			}
			if v, ok := p.listValue(t, "address list", "any matches every address"); ok {
				if addrs, names, ok := p.parseAddrList(v.val, v.off); ok && !dup {
					ep.addrs, ep.names = addrs, names
				}
			}
		case clausePort:
			p.parsePortClause(t, prev, portTarget)
			portTarget = nil
		case clauseComment:
			if v, ok := p.value(t, "comment", `a comment that is a keyword must be quoted: comment "log"`); ok {
				if msg := checkComment(v.val); msg != "" {
					p.fail(v.off, v.raw, ErrValue, msg, "")
				} else if !dup {
					p.rule.Comment = v.val
				}
			}
		}
		prev = c
	}
}

// parsePortClause handles `port PORTS`, which must directly follow the
// address list of a from or to: that is how the grammar tells source ports
// from destination ports.
func (p *ruleParser) parsePortClause(t token, prev clause, target *endpointState) {
	placed := prev == clauseFrom || prev == clauseTo
	switch {
	case prev == clausePort:
		p.fail(t.off, t.raw, ErrSyntax, "second port list", "join the ports with commas: port 80,443")
	case !placed && prev != clauseSkipped:
		p.fail(t.off, t.raw, ErrSyntax, "port not directly after from or to",
			"port belongs to the address list before it: from ADDRS port PORTS, to ADDRS port PORTS")
	}
	v, ok := p.listValue(t, "port list", "")
	if !ok {
		return
	}
	ports, ok := p.parsePortList(v.val, v.off)
	if ok && placed && target != nil {
		tok := t
		target.ports = ports
		target.portTok = &tok
	}
}

// value takes the token after keyword kw as its value. A missing value, or a
// keyword where the value should be, is reported at kw and consumes nothing,
// so the next clause still parses. Only a comment may be quoted.
func (p *ruleParser) value(kw token, what, hint string) (token, bool) {
	name := strings.ToLower(kw.val)
	if p.i >= len(p.toks) && name == "comment" {
		hint = "" // the hint is about a keyword where the comment should be
	}
	if p.i >= len(p.toks) || (!p.toks[p.i].quoted && isClauseKeyword(p.toks[p.i].val)) {
		p.fail(kw.off, kw.raw, ErrSyntax, fmt.Sprintf("missing %s after %q", what, name), hint)
		return token{}, false
	}
	v := p.toks[p.i]
	p.i++
	if v.quoted && name != "comment" {
		p.fail(v.off, v.raw, ErrSyntax, fmt.Sprintf("quoted value after %q", name), "only a comment can be quoted")
		return token{}, false
	}
	return v, true
}

// listValue is value for comma-separated lists. A list written with spaces
// around its commas ("10.0.0.1, 10.0.0.2") would otherwise be cut at the
// first space and the rest misread as keywords; it gets one clear error.
func (p *ruleParser) listValue(kw token, what, hint string) (token, bool) {
	v, ok := p.value(kw, what, hint)
	if !ok {
		return v, false
	}
	last := v
	for p.i < len(p.toks) {
		next := p.toks[p.i]
		if next.quoted || isClauseKeyword(next.val) ||
			(!strings.HasSuffix(last.val, ",") && !strings.HasPrefix(next.val, ",")) {
			break
		}
		last = next
		p.i++
	}
	if last.off == v.off {
		return v, true
	}
	span := p.text[v.off : last.off+len(last.raw)]
	p.fail(v.off, span, ErrSyntax, fmt.Sprintf("spaces inside the list %s", quoteTok(span)),
		"write it without spaces: "+SafeText(strings.Join(strings.Fields(span), ""), maxQuotedToken))
	return token{}, false
}

// unknownKeyword reports a word where a clause keyword should be, with the
// most helpful explanation it can find.
func (p *ruleParser) unknownKeyword(t token, prev clause) {
	switch {
	case t.quoted:
		p.fail(t.off, t.raw, ErrSyntax, "unexpected quoted string", `a comment is written: comment "text"`)
	case isAction(t.val):
		p.fail(t.off, t.raw, ErrSyntax, fmt.Sprintf("unexpected action %s", quoteTok(t.raw)), "a rule has one action, at its start")
	case (prev == clauseFrom || prev == clauseTo || prev == clausePort) && looksLikeListElement(t.val):
		p.fail(t.off, t.raw, ErrSyntax, fmt.Sprintf("unexpected %s after a list", quoteTok(t.raw)), "lists are comma-separated without spaces")
	default:
		p.fail(t.off, t.raw, ErrSyntax, fmt.Sprintf("unknown keyword %s", quoteTok(t.raw)), "").Suggestion =
			suggest(t.val, clauseWords, clauseAliases)
	}
}

func isAction(s string) bool {
	_, ok := parseAction(s)
	return ok
}

// looksLikeListElement: a number, an IPv4 or IPv6 address or a stray comma.
func looksLikeListElement(s string) bool {
	return s != "" && (s[0] >= '0' && s[0] <= '9' || s[0] == ',' || strings.Contains(s, ":"))
}

// checkConflicts finds parts that are valid alone but contradict each other,
// and sets the rule's Family.
func (p *ruleParser) checkConflicts() {
	// All addresses of a rule must be one family: an nftables rule matches
	// either ip or ip6 addresses, and silently splitting a rule in two would
	// change what `deny` rules block.
	all := append(append([]addrAt(nil), p.from.addrs...), p.to.addrs...)
	addrFamily := BothFamilies
	var first addrAt
	for _, a := range all {
		f := prefixFamily(a.prefix)
		if addrFamily == BothFamilies {
			addrFamily, first = f, a
			continue
		}
		if f != addrFamily {
			p.fail(a.off, a.raw, ErrConflict,
				fmt.Sprintf("%s address %s mixed with %s address %s", f, quoteTok(a.raw), addrFamily, quoteTok(first.raw)),
				"a rule is IPv4 or IPv6: write one rule per family")
			return
		}
	}

	protoFamily := p.rule.Proto.Family()
	if protoFamily != BothFamilies && addrFamily != BothFamilies && protoFamily != addrFamily {
		pt := p.seen[clauseProto]
		sugg := ""
		switch p.rule.Proto {
		case ICMP:
			sugg = "icmpv6"
		case ICMPv6:
			sugg = "icmp"
		}
		p.fail(pt.off, pt.raw, ErrConflict, fmt.Sprintf("protocol %s is %s only, but the rule has %s address %s",
			p.rule.Proto, protoFamily, addrFamily, quoteTok(first.raw)), "").Suggestion = sugg
	}
	p.rule.Family = addrFamily
	if addrFamily == BothFamilies {
		p.rule.Family = protoFamily
	}

	if !p.rule.Proto.HasPorts() {
		for _, ep := range []*endpointState{&p.from, &p.to} {
			if ep.portTok != nil {
				p.fail(ep.portTok.off, ep.portTok.raw, ErrConflict,
					fmt.Sprintf("port with protocol %s, which has no ports", p.rule.Proto),
					"ports need tcp, udp, sctp, udplite or dccp, or no proto for tcp and udp")
			}
		}
	}
}

func prefixFamily(p netip.Prefix) Family {
	if p.Addr().Is4() {
		return IPv4
	}
	return IPv6
}
