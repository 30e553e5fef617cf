package nft

import "github.com/dcfw/dcfw/labels"

// Connections opened before the ruleset. `ct state established accept`
// alone would let a connection opened while dcfw's table was missing (dcfw
// stopped, the table deleted, a container started before its rules) carry
// data for as long as it lives. So every ruleset dcfw writes marks the
// connections it accepts with its own conntrack mark, Secret.Conn (V), and
// only connections with that mark are waved through:
//
//	ct state established,related ct mark V accept
//	ct state invalid drop
//	ct state related ct status ! confirmed accept      reject responses
//	ct direction reply <the other chain's rules, mirrored>
//	ct direction reply drop                             (or mark and accept)
//	<ND>, <user rules: accept becomes `ct mark set V accept`>
//	<allow policy: `ct mark set V accept`; deny/reject as before>
//
// A packet of a connection without V is decided again by the rules, as if
// it were new: in the direction the connection was opened in, by the
// chain's own rules; in the reply direction (a server's answer after the
// rules appeared) by the other chain's rules with addresses, ports and
// interfaces swapped, since the other chain decides whether that
// connection is allowed at all. A connection the ruleset allows is marked
// by its next packet and goes on; one it does not allow has every packet
// dropped (or rejected) from then on.
//
// Apply makes a new V whenever it writes the input or output chain (both
// then, since both use V): connections accepted by an older or tampered
// ruleset are decided again by the one just written.
//
// Reject responses (the TCP reset or ICMP error nft's reject sends) belong
// to the connection of the packet they answer, which is dropped and so
// never confirmed; `ct status ! confirmed` lets exactly those through the
// other chain. An ICMP error that a process forges about a live connection
// refers to a confirmed one and gets no such pass.
//
// A process with CAP_NET_ADMIN could set conntrack marks itself; it could
// also delete the rules, so this does not try to stop it.

// replyRules mirrors the user rules of the other chain (its verdict rules;
// log rules are left out) for reply-direction packets, and ends with the
// other chain's policy: accept (and mark) for allow, drop otherwise.
func replyRules(other []Rule, policy labels.Action) []Rule {
	var out []Rule
	for _, r := range other {
		if r.Verdict == Continue {
			continue
		}
		m := r
		m.Limit, m.Log = nil, nil
		m.IifName, m.OifName = r.OifName, r.IifName
		m.Saddr, m.Daddr = r.Daddr, r.Saddr
		m.SaddrSet, m.DaddrSet = r.DaddrSet, r.SaddrSet
		m.Sport, m.Dport = r.Dport, r.Sport
		m.CtDirection = CtReply
		m.Comment = truncate("reply: "+r.Comment, maxCommentLen)
		if r.Verdict == Accept {
			m.ConnMark = SetMark
		} else {
			m.ConnMark, m.Verdict = NoMark, Drop
		}
		if n := len(out); n > 0 && out[n-1].encodedKey() == m.encodedKey() {
			continue // a reject rule split for TCP and the rest
		}
		out = append(out, m)
	}
	last := Rule{L4Proto: NoProto, CtDirection: CtReply, Verdict: Drop, Comment: commentReplyPolicy}
	if policy == labels.Allow {
		last.ConnMark, last.Verdict = SetMark, Accept
	}
	return append(out, last)
}

const commentReplyPolicy = "dcfw: replies, other direction's policy"
