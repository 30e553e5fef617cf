package labels

import (
	"errors"
	"fmt"
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
	// ErrValueTooLong: a label value is longer than MaxValueLen. It is the
	// only error reported for that label: its text is not read.
	ErrValueTooLong = errors.New("label value too long")
	// ErrTooManyRules: one direction has more than MaxRulesPerChain rule
	// labels. The ones over the limit are not read.
	ErrTooManyRules = errors.New("too many rule labels")
	// ErrTooManyErrors: more problems were found than are kept
	// (MaxErrorsPerLabel per label, MaxErrors per Parse); this error says
	// how many were left out. Its presence means the list is incomplete.
	ErrTooManyErrors = errors.New("too many errors")
	// ErrTooManyNames: the rules of one container use more than
	// MaxNamesPerContainer distinct names.
	ErrTooManyNames = errors.New("too many names")
	// ErrTooManyAddresses: a name stands for more than MaxAddrsPerName
	// addresses. Parse never returns it (it does no resolving); it is here
	// so that the limit and its error live next to the names limit, for
	// the resolver and the controller.
	ErrTooManyAddresses = errors.New("too many addresses for one name")
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
	// empty when something is missing at the end of Value, and for
	// ErrValueTooLong, whose Offset is where Value goes over MaxValueLen.
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
// The container is not named: the caller adds it. Everything taken from the
// labels is quoted with Quote, so the line holds no control, bidi or
// invisible character, and is bounded: a key is cut to about 100 bytes and
// a long value (over 400 bytes quoted) is shown as an excerpt around the
// token, "…" marking the cuts; the column still counts in the whole value.
// An error of Parse or ParseRule renders in at most about 1 KiB.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Key != "" {
		b.WriteString(showKey(e.Key))
		b.WriteString(": ")
	}
	col := e.Column()
	if col > 0 {
		b.WriteString(quoteExcerpt(e.Value, e.Offset))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if col > 0 {
		fmt.Fprintf(&b, " at column %d", col)
	}
	sugg := ""
	if e.Suggestion != "" {
		sugg = "did you mean " + Quote(e.Suggestion, maxQuotedSuggestion) + "?"
	}
	switch {
	case e.Hint != "" && sugg != "":
		fmt.Fprintf(&b, " (%s; %s)", e.Hint, sugg)
	case e.Hint != "":
		fmt.Fprintf(&b, " (%s)", e.Hint)
	case sugg != "":
		fmt.Fprintf(&b, " (%s)", sugg)
	}
	return b.String()
}

// Unwrap returns the sentinel, for errors.Is.
func (e *Error) Unwrap() error { return e.Err }

// Bounds of what an error message shows of the labels, in bytes of the
// quoted text. They keep one Error() line around 1 KiB whatever the input.
const (
	maxQuotedKey        = 100 // a label key
	maxQuotedValue      = 400 // a whole value; longer ones are excerpted
	maxQuotedExcerpt    = 160 // an excerpt of a long value
	excerptBefore       = 40  // bytes of context before the token in an excerpt
	maxQuotedToken      = 64  // a token or list quoted in a message
	maxQuotedSuggestion = 80  // a "did you mean"
)

// showKey prints a label key: bare when that is unambiguous (printable
// ASCII without spaces or quotes, as keys normally are), quoted otherwise,
// so that " dcfw.enable" or a key with a zero-width space shows what it is.
func showKey(key string) string {
	if len(key) > 0 && len(key) <= maxQuotedKey-2 && plainKey(key) {
		return key
	}
	return Quote(key, maxQuotedKey)
}

func plainKey(key string) bool {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '`' {
			return false
		}
	}
	return true
}

// quoteValue quotes (part of) a label value for an error message so that it
// stays readable and unambiguous on one log line: plain double quotes when
// the value needs no escaping, back quotes when it contains double quotes
// or backslashes (rule comments do) but nothing else to escape, Go escapes
// otherwise (see Quote). The result is at most limit bytes; cut reports
// whether s had to be cut for that.
func quoteValue(s string, limit int) (q string, cut bool) {
	if len(s)+2 <= limit && strings.ContainsAny(s, `"\`) && !strings.Contains(s, "`") && allShown(s) {
		return "`" + s + "`", false
	}
	return escape(s, limit, true)
}

// quoteTok quotes a token or list of a rule inside a message.
func quoteTok(s string) string { return Quote(s, maxQuotedToken) }

// quoteWord quotes a one-word value (dcfw.enable, a policy) inside a
// message, like a whole value but shorter.
func quoteWord(s string) string {
	q, _ := quoteValue(s, maxQuotedToken)
	return q
}

// quoteExcerpt quotes value for an error at byte offset off: whole when it
// fits maxQuotedValue, otherwise from a little before off on, cut to
// maxQuotedExcerpt, with "…" where it was cut.
func quoteExcerpt(value string, off int) string {
	q, cut := quoteValue(value, maxQuotedValue)
	if !cut {
		return q
	}
	start := 0
	if off > excerptBefore {
		start = off - excerptBefore
		for start < off && !utf8.RuneStart(value[start]) {
			start++
		}
	}
	if start == 0 {
		q, _ = escape(value, maxQuotedExcerpt, true)
		return q
	}
	q, _ = escape(value[start:], maxQuotedExcerpt-len(ellipsis), true)
	return `"` + ellipsis + q[1:]
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
