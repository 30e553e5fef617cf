package labels

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxCommentLen is the longest comment in bytes: the limit the nft tool puts
// on a rule comment (NFTNL_UDATA_COMMENT_MAXLEN), so that a listing of the
// ruleset with nft shows every comment dcfw wrote.
const MaxCommentLen = 128

// checkComment validates comment text (already unquoted). It returns a
// message, or "" when it is fine. Only printable characters are allowed:
// the comment ends up in nft listings and logs, where a newline, an escape
// sequence or a right-to-left override could forge or hide output. The only
// space character allowed is U+0020.
func checkComment(s string) string {
	if len(s) > MaxCommentLen {
		return fmt.Sprintf("comment is %d bytes long; at most %d are allowed", len(s), MaxCommentLen)
	}
	if !utf8.ValidString(s) {
		return "comment is not valid UTF-8"
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Sprintf("comment contains the non-printable character %U", r)
		}
	}
	return ""
}

// quoteComment prints a comment in the grammar: as one bare word when that
// parses back to the same text, otherwise double-quoted with \" and \\
// escaped.
func quoteComment(s string) string {
	if canBeBare(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// canBeBare reports whether s can be written as a bare word: not empty, no
// white space, no quote or backslash, and not a keyword (a bare keyword
// after `comment` is read as a missing comment).
func canBeBare(s string) bool {
	if s == "" || isClauseKeyword(s) {
		return false
	}
	for _, r := range s {
		if isSpace(r) || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}
