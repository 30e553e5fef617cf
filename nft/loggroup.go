package nft

import (
	"strconv"
	"strings"

	"github.com/dcfw/dcfw/labels"
)

// maxGroupPrefix caps the prefixes LogToGroup writes. The kernel takes up
// to 127 bytes; a label key is far shorter, but one of absurd length gets a
// numbered prefix instead of a cut one, which could equal another's.
const maxGroupPrefix = 64

// LogRule says which rule a record sent to an NFLOG group comes from: the
// record's prefix is the key of the LogRules that LogToGroup returned.
type LogRule struct {
	Chain string // InputChain or OutputChain
	// Label is the label key the rule comes from: "dcfw.input.rule.3" for
	// a `log` label rule, "dcfw.input.policy" for the log rule of a deny or
	// reject policy; "" for a lockdown table.
	Label string
	// Comment is the label rule's own comment ("" if none).
	Comment string
	// Action is what happens to the logged packet: the label rule's
	// action, or the policy's (labels.Deny, labels.Reject).
	Action labels.Action
	// Policy: the packet matched no label rule; the chain's policy (or a
	// lockdown) decided.
	Policy bool
	// Lockdown: the table is Lockdown's (the labels were wrong).
	Lockdown bool
}

// LogRules maps the prefix of each log rule of a table to the rule.
type LogRules map[string]LogRule

// LogToGroup makes every log rule of the compiled table t send what it
// logs to NFLOG group `group` inside the namespace (`log prefix "..." group
// N`), for dcfw to receive, rather than to the kernel log, and returns what
// each prefix stands for. Kernel logging from a namespace other than the
// host's needs the host's sysctl nf_log_all_netns and lands in the host's
// kernel log without naming the container; NFLOG needs neither.
//
// The prefix of a label rule's log rule is its label key, the policy's log
// rule's is the policy's key ("dcfw.output.policy"), a lockdown's
// "dcfw.input.lockdown": a record that was logged under a table just
// replaced still names the right label. Rate limits are kept. Call it on
// a table from Compile or Lockdown, before Apply; without it a table logs
// to the kernel log, exactly as before.
func (t *Table) LogToGroup(group uint16) LogRules {
	out := LogRules{}
	for _, c := range t.Chains {
		if c.Name != InputChain && c.Name != OutputChain {
			continue
		}
		n := 0
		for i := range c.Rules {
			r := &c.Rules[i]
			if r.Log == nil {
				continue
			}
			n++
			ref := logRuleOf(c, i)
			prefix := ref.Label
			switch {
			case ref.Lockdown:
				prefix = "dcfw." + c.Name + ".lockdown"
			case prefix == "" || len(prefix) > maxGroupPrefix || strings.ContainsRune(prefix, 0):
				prefix = "dcfw." + c.Name + ".log#" + strconv.Itoa(n)
			}
			out[prefix] = ref
			r.Log = &Log{Prefix: prefix, ToGroup: true, Group: group}
		}
	}
	return out
}

// logRuleOf describes log rule i of chain c, from its comment and the
// verdict rule after it (a label rule's log rule comes right before its
// verdict rules, with the same comment).
func logRuleOf(c *Chain, i int) LogRule {
	r := c.Rules[i]
	ref := LogRule{Chain: c.Name}
	switch r.Comment {
	case commentLockdownLog:
		ref.Action, ref.Policy, ref.Lockdown = labels.Deny, true, true
		return ref
	case commentLogDeny, commentLogReject:
		ref.Label, ref.Action, ref.Policy = "dcfw."+c.Name+".policy", labels.Deny, true
		if r.Comment == commentLogReject {
			ref.Action = labels.Reject
		}
		return ref
	}
	ref.Label, ref.Comment, _ = strings.Cut(r.Comment, ": ")
	ref.Action = labels.Deny
	for _, v := range c.Rules[i+1:] {
		if v.Comment != r.Comment || v.Verdict == Continue {
			continue
		}
		switch v.Verdict {
		case Accept:
			ref.Action = labels.Allow
		case RejectTCPReset, RejectPortUnreachable:
			ref.Action = labels.Reject
		}
		break
	}
	return ref
}

// WithoutLogs removes the log rules of the compiled table t (for
// `--log-blocked=off`): nothing is logged anywhere, and the verdicts are
// those of the table with them, since a log rule decides nothing.
func (t *Table) WithoutLogs() {
	for _, c := range t.Chains {
		if c.Name != InputChain && c.Name != OutputChain {
			continue
		}
		kept := c.Rules[:0]
		for _, r := range c.Rules {
			if r.Log == nil {
				kept = append(kept, r)
			}
		}
		c.Rules = kept
	}
}

// Clone returns a deep copy of t, for a caller that rewrites the log rules
// (LogToGroup, WithoutLogs) of a table others still hold.
func (t *Table) Clone() *Table { return copyTable(t) }
