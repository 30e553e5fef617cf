package labels

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Label keys and values come from container images and are attacker-
// controlled. Printed raw, a newline forges a log line, an escape sequence
// rewrites the terminal, a bidi override (U+202E) shows text in another
// order than it is read, and a zero-width character makes two different
// keys look identical. Quote and SafeText escape every such character
// visibly.

// ellipsis marks where Quote and SafeText cut a string.
const ellipsis = "…"

// minQuoteMax is the smallest bound Quote can keep: `"…"`.
const minQuoteMax = len(`""`) + len(ellipsis)

// shown reports whether r may appear as itself in a log line: a printable
// character (letters, marks, numbers, punctuation, symbols and U+0020) that
// is not invisible. Control characters (C0, DEL, C1), format characters
// (bidi controls such as U+202E and U+2066..U+2069, zero-width spaces and
// joiners U+200B..U+200D, the BOM U+FEFF, soft hyphen), white space other
// than U+0020, private-use, surrogate and unassigned code points, and the
// default-ignorable characters that print as nothing (U+3164 HANGUL FILLER,
// variation selectors) are not.
func shown(r rune) bool {
	return unicode.IsPrint(r) &&
		!unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// Quote returns s as a double-quoted Go string literal in which every
// character that is not shown is escaped (\n, \x1b, \u202e, \U000e0001),
// as are invalid UTF-8 bytes (\xff), backslashes and double quotes. The
// result never contains a control, format or invisible character.
//
// With limit > 0 the result is at most limit bytes (at least `"…"`, 5 bytes):
// a longer one is cut at a character or escape boundary and ends in …"
// (an ellipsis inside the quotes). Cutting costs O(limit), not O(len(s)),
// so a huge hostile value is cheap to quote. limit <= 0 means no bound.
func Quote(s string, limit int) string {
	q, _ := escape(s, limit, true)
	return q
}

// SafeText returns s for a structured log field (whose encoder quotes it):
// unchanged when every character is shown and it is at most limit bytes,
// otherwise with the characters that are not shown escaped as in Quote,
// and cut to at most limit bytes ending in "…" (at least 3 bytes). Quotes and
// backslashes are left alone, so the result is for reading, not for
// parsing back. limit <= 0 means no bound.
func SafeText(s string, limit int) string {
	if (limit <= 0 || len(s) <= limit) && allShown(s) {
		return s
	}
	t, _ := escape(s, limit, false)
	return t
}

// allShown reports whether s is valid UTF-8 and every character is shown.
func allShown(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < ' ' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !shown(r) {
			return false
		}
		i += size
	}
	return true
}

// escape is Quote (quoted) or SafeText (not quoted) without the fast path.
// cut reports whether s was cut to fit limit.
func escape(s string, limit int, quoted bool) (out string, cut bool) {
	var b strings.Builder
	open, closing := "", ""
	if quoted {
		open, closing = `"`, `"`
		if limit > 0 {
			limit = max(limit, minQuoteMax)
		}
	} else if limit > 0 {
		limit = max(limit, len(ellipsis))
	}
	grow := len(s) + len(open) + len(closing)
	if limit > 0 && grow > limit {
		grow = limit
	}
	b.Grow(grow)
	b.WriteString(open)
	// keep is the length of b up to which the text may stay when it has
	// to be cut: room is left for the ellipsis and the closing quote.
	keep := b.Len()
	var piece [10]byte // the longest escape: \U000e0001
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		p := appendEscaped(piece[:0], s[i:i+size], r, size, quoted)
		if limit > 0 && b.Len()+len(p)+len(closing) > limit {
			// It does not fit: cut where the ellipsis still fits.
			return b.String()[:keep] + ellipsis + closing, true
		}
		b.Write(p)
		if limit <= 0 || b.Len()+len(ellipsis)+len(closing) <= limit {
			keep = b.Len()
		}
		i += size
	}
	b.WriteString(closing)
	return b.String(), false
}

// appendEscaped appends one character (raw, its bytes in s) as it is shown.
func appendEscaped(dst []byte, raw string, r rune, size int, quoted bool) []byte {
	const hex = "0123456789abcdef"
	switch {
	case r == utf8.RuneError && size == 1:
		return append(dst, '\\', 'x', hex[raw[0]>>4], hex[raw[0]&0xf])
	case quoted && (r == '"' || r == '\\'):
		return append(dst, '\\', byte(r))
	case shown(r):
		return append(dst, raw...)
	}
	switch r {
	case '\a':
		return append(dst, `\a`...)
	case '\b':
		return append(dst, `\b`...)
	case '\f':
		return append(dst, `\f`...)
	case '\n':
		return append(dst, `\n`...)
	case '\r':
		return append(dst, `\r`...)
	case '\t':
		return append(dst, `\t`...)
	case '\v':
		return append(dst, `\v`...)
	}
	switch {
	case r < ' ' || r == 0x7f:
		return append(dst, '\\', 'x', hex[r>>4], hex[r&0xf])
	case r < 0x10000:
		dst = append(dst, '\\', 'u')
		for shift := 12; shift >= 0; shift -= 4 {
			dst = append(dst, hex[r>>uint(shift)&0xf])
		}
		return dst
	}
	dst = append(dst, '\\', 'U')
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, hex[r>>uint(shift)&0xf])
	}
	return dst
}
