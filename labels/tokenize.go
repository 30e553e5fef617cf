package labels

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// token is one whitespace-separated word of a rule, or one double-quoted
// string.
type token struct {
	off    int    // byte offset of raw in the rule text
	raw    string // as written, quotes and escapes included
	val    string // the value: raw for a bare word, unescaped for a quoted one
	quoted bool
}

// isSpace is the token separator: any Unicode white space, so that tabs,
// newlines (YAML folded scalars) and no-break spaces separate words just
// like a blank does.
func isSpace(r rune) bool { return unicode.IsSpace(r) }

// tokenize splits a rule into tokens. Every token counts, whatever its
// length. A token that starts with '"' is a quoted string that runs to the
// next unescaped '"' and may contain white space; inside it only \" and \\
// are escapes. A quote anywhere else is an error, as is a closing quote
// followed directly by more text: both are almost always a typo that would
// otherwise silently change where a comment ends.
func tokenize(text string, errs *labelErrors) []token {
	var toks []token
	bad := func(off int, tok, msg, hint string) {
		errs.add(Error{Value: text, Offset: off, Token: tok, Msg: msg, Hint: hint, Err: ErrSyntax})
	}
	i := 0
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if isSpace(r) {
			i += size
			continue
		}
		start := i
		if text[i] != '"' {
			for i < len(text) {
				r, size := utf8.DecodeRuneInString(text[i:])
				if isSpace(r) {
					break
				}
				if r == '"' {
					bad(i, `"`, "quote inside a word", "only a whole comment can be quoted")
				}
				i += size
			}
			toks = append(toks, token{off: start, raw: text[start:i], val: text[start:i]})
			continue
		}
		// Quoted string.
		var val strings.Builder
		i++
		closed := false
		for i < len(text) {
			c := text[i]
			if c == '"' {
				i++
				closed = true
				break
			}
			if c == '\\' {
				if i+1 >= len(text) {
					break // unterminated; reported below
				}
				next := text[i+1]
				if next != '"' && next != '\\' {
					_, n := utf8.DecodeRuneInString(text[i+1:])
					bad(i, text[i:i+1+n], fmt.Sprintf("unknown escape %s in quoted string", quoteTok(text[i:i+1+n])), `only \" and \\ are escapes`)
					i += 1 + n
					continue
				}
				val.WriteByte(next)
				i += 2
				continue
			}
			val.WriteByte(c)
			i++
		}
		if !closed {
			bad(start, text[start:], "unterminated quoted string", "")
			i = len(text)
		}
		toks = append(toks, token{off: start, raw: text[start:i], val: val.String(), quoted: true})
		if closed && i < len(text) {
			if r, _ := utf8.DecodeRuneInString(text[i:]); !isSpace(r) {
				end := i
				for end < len(text) {
					r, size := utf8.DecodeRuneInString(text[end:])
					if isSpace(r) {
						break
					}
					end += size
				}
				bad(i, text[i:end], "text directly after a closing quote", "a space must follow it")
				i = end
			}
		}
	}
	return toks
}
