package labels

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// Limits on what Parse reads and reports. Label values come from container
// images as well as from whoever starts a container, so they are hostile
// input: without limits one 48 KB label of bad tokens gave 10,000 errors,
// each quoting the whole value (gigabytes of log), and dcfw stalled for
// every other container. With them, the work and memory of one Parse and
// the size of its errors are bounded by the limits, not by the labels.
const (
	// MaxValueLen is the longest value of a dcfw label, in bytes. A rule
	// may expand into at most 256 kernel rules (nft.MaxRulesPerLabelRule),
	// so its lists hold a few dozen elements; 4 KiB still fits about 250
	// IPv4 or 100 IPv6 addresses in one list and a 128-byte comment, far
	// more than a person reads in one rule. A longer value is one
	// ErrValueTooLong error and its text is not read.
	MaxValueLen = 4096

	// MaxRulesPerChain is the most rule labels of one direction
	// (dcfw.input.rule.N or dcfw.output.rule.N). Every label rule is at
	// least one kernel rule, walked in order for every new connection, and
	// a namespace takes at most nft.MaxTableRules; 1,000 per direction is
	// far more than any hand-written policy (the original's examples have
	// one to three) and bounds a Parse to 2 × 1,000 × MaxValueLen bytes of
	// rule text. More is one ErrTooManyRules error; the rules over the
	// limit are not read.
	MaxRulesPerChain = 1000

	// MaxErrorsPerLabel is how many errors of one label are kept: the
	// leftmost ones. The others are only counted, in one more error
	// (ErrTooManyErrors) that says how many there are and where the next
	// one is. Fixing the first few usually changes the rest anyway.
	MaxErrorsPerLabel = 3

	// MaxErrors is the most errors one Parse returns, the last being an
	// ErrTooManyErrors that says how many were left out. When Parse has
	// found this many it stops reading labels. Twenty lines are a screenful
	// of log: enough to see what is wrong.
	MaxErrors = 20

	// MaxNamesPerContainer is the most distinct names (containers, services,
	// DNS host names) the rules of one container may use, both directions
	// together. Every name is resolved in the container's namespace on
	// every event and interval, one A and one AAAA query each; 32 names
	// keep that to 64 small queries per container per cycle, and are more
	// than a service talks to by name. More is one ErrTooManyNames error
	// at the first name over the limit.
	MaxNamesPerContainer = 32

	// MaxAddrsPerName is the most addresses one name may stand for, both
	// families and the addresses kept from earlier answers (see the names
	// package) together. A DNS answer holds a handful of addresses even for
	// a CDN; the cap keeps a hostile or broken resolver from filling the
	// kernel's sets. An answer over it adds none of its addresses
	// (ErrTooManyAddresses), never a silently cut list.
	MaxAddrsPerName = 64
)

// labelErrors collects the errors of one label: it keeps the
// MaxErrorsPerLabel leftmost ones, in order of offset (and of finding, for
// equal offsets), and only counts the others, so a value full of mistakes
// costs no more memory than one with a few.
type labelErrors struct {
	kept    Errors
	dropped int    // errors found but not kept
	nextOff int    // the leftmost dropped error: where it is
	nextTok string // and its token
	scratch Error  // handed out for a dropped error, so callers may still set a Suggestion
}

// total is the number of errors found, kept or not.
func (l *labelErrors) total() int { return len(l.kept) + l.dropped }

// add records e and returns it for the caller to complete (a Suggestion),
// or a scratch Error when e is not kept.
func (l *labelErrors) add(e Error) *Error {
	if len(l.kept) == MaxErrorsPerLabel {
		last := l.kept[len(l.kept)-1]
		if e.Offset >= last.Offset {
			l.drop(e.Offset, e.Token)
			l.scratch = e
			return &l.scratch
		}
		l.drop(last.Offset, last.Token)
		l.kept = l.kept[:len(l.kept)-1]
	}
	i := len(l.kept)
	for i > 0 && l.kept[i-1].Offset > e.Offset {
		i--
	}
	p := &e
	l.kept = slices.Insert(l.kept, i, p)
	return p
}

func (l *labelErrors) drop(off int, tok string) {
	if l.dropped == 0 || off < l.nextOff {
		l.nextOff, l.nextTok = off, tok
	}
	l.dropped++
}

// list returns the kept errors with the label's key set, and when some were
// dropped an ErrTooManyErrors error that counts them and points at the
// first of them.
func (l *labelErrors) list(key, value string) Errors {
	out := l.kept
	for _, e := range out {
		e.Key = key
	}
	if l.dropped > 0 {
		msg := fmt.Sprintf("… and %d more %s in this label", l.dropped, plural(l.dropped, "error", "errors"))
		if l.nextOff >= 0 {
			msg += ", the next"
		}
		out = append(out, &Error{
			Key: key, Value: value, Offset: l.nextOff, Token: l.nextTok,
			Msg: msg, Err: ErrTooManyErrors,
		})
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// tooLong is the one error of a value over MaxValueLen. It points at the
// character where the value goes over the limit, so the message shows the
// value around there, not all of it.
func tooLong(key, value, hint string) *Error {
	off := MaxValueLen
	for off > 0 && !utf8.RuneStart(value[off]) {
		off--
	}
	return &Error{
		Key: key, Value: value, Offset: off,
		Msg:  fmt.Sprintf("value is %d bytes long, at most %d are allowed; it goes over the limit", len(value), MaxValueLen),
		Hint: hint,
		Err:  ErrValueTooLong,
	}
}
