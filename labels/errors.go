package labels

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sentinel errors. Every *Error wraps exactly one of them, so callers can
// classify a problem with errors.Is without parsing messages.
var (
	// ErrUnknownLabel: a key under "dcfw." that dcfw does not know (a typo
	// such as dcfw.inptu.policy, or an old key name).
	ErrUnknownLabel = errors.New("unknown dcfw label")
	// ErrRuleNumber: the N of dcfw.<dir>.rule.N is missing, not a plain
	// decimal number, or too large.
	ErrRuleNumber = errors.New("invalid rule number")
	// ErrDuplicateRule: two rule keys of one direction have the same number
	// (dcfw.input.rule.1 and dcfw.input.rule.01).
	ErrDuplicateRule = errors.New("duplicate rule number")
	// ErrSyntax: the rule text does not follow the grammar (unknown action or
	// keyword, a clause given twice, a missing value, misplaced port, quoting).
	ErrSyntax = errors.New("syntax error")
	// ErrValue: a value is malformed or out of range (address, prefix length,
	// port, protocol, interface name, comment, policy word, dcfw.enable word).
	ErrValue = errors.New("invalid value")
	// ErrConflict: each part is valid on its own but they contradict each
	// other (IPv4 and IPv6 in one rule, icmp with an IPv6 address, port with
	// a protocol that has no ports).
	ErrConflict = errors.New("conflicting rule parts")
)

// Error is one problem in a container's dcfw labels. It names the label key,
// carries the full label value and points at the offending token in it.
type Error struct {
	// Key is the label key, e.g. "dcfw.input.rule.1". Empty for errors
	// returned by ParseRule, which does not know where its text came from.
	Key string
	// Value is the full label value (for a rule label, the rule text).
	Value string
	// Offset is the byte offset of Token in Value, or -1 when the error
	// does not point into a rule text: problems with the key itself (unknown
	// key, bad or duplicate rule number) and one-word values (dcfw.enable,
	// a policy), which Msg quotes whole.
	Offset int
	// Token is the offending text as written: a word of the rule, a list
	// element, or the offending part of the key when Offset is -1. It is
	// empty when something is missing at the end of Value.
	Token string
	// Msg says what is wrong, for a person.
	Msg string
	// Hint says how to put it right, or is "".
	Hint string
	// Suggestion is a close valid spelling ("did you mean"), or "".
	Suggestion string
	// Err is the sentinel (ErrSyntax, ErrValue, ...).
	Err error
}

// Column is the 1-based position of Token in Value counted in characters
// (runes, not bytes), or 0 when the error does not point into Value.
func (e *Error) Column() int {
	if e.Offset < 0 || e.Offset > len(e.Value) {
		return 0
	}
	return utf8.RuneCountInString(e.Value[:e.Offset]) + 1
}

// Error renders the problem on one line, for example
//
//	dcfw.input.rule.1: "allow proto tcp frm 10.0.0.1": unknown keyword "frm" at column 17 (did you mean "from"?)
//
// The container is not named: the caller adds it.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	col := e.Column()
	if col > 0 {
		b.WriteString(quoteValue(e.Value))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if col > 0 {
		fmt.Fprintf(&b, " at column %d", col)
	}
	switch {
	case e.Hint != "" && e.Suggestion != "":
		fmt.Fprintf(&b, " (%s; did you mean %q?)", e.Hint, e.Suggestion)
	case e.Hint != "":
		fmt.Fprintf(&b, " (%s)", e.Hint)
	case e.Suggestion != "":
		fmt.Fprintf(&b, " (did you mean %q?)", e.Suggestion)
	}
	return b.String()
}

// Unwrap returns the sentinel, for errors.Is.
func (e *Error) Unwrap() error { return e.Err }

// quoteValue quotes a label value for an error message so that it stays
// readable and unambiguous on one log line: plain double quotes when the
// value needs no escaping, back quotes when it contains double quotes (rule
// comments do), Go escapes only when it has control or invalid characters.
func quoteValue(s string) string {
	if q := strconv.Quote(s); q == `"`+s+`"` {
		return q
	}
	if strconv.CanBackquote(s) {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}

// Errors is every problem found in one call of Parse or ParseRule, sorted by
// label key (rule numbers numerically) and then by position. Parse and
// ParseRule return it as their error; use errors.As to get at the list and
// errors.Is to test for a sentinel anywhere in it.
type Errors []*Error

// Error renders one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// asError turns a possibly empty list into the error to return, so that a
// caller's `err != nil` is never fooled by a typed nil.
func (es Errors) asError() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
