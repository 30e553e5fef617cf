package labels

import (
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		limit int
		want  string
	}{
		{"plain", "dcfw.enable", 0, `"dcfw.enable"`},
		{"empty", "", 0, `""`},
		{"quotes and backslashes", `a"b\c`, 0, `"a\"b\\c"`},
		{"printable unicode stays", "ünïcödé €", 0, `"ünïcödé €"`},
		{"C0 controls", "a\nb\tc\x1bd\x00", 0, `"a\nb\tc\x1bd\x00"`},
		{"DEL", "a\x7fb", 0, `"a\x7fb"`},
		{"C1 controls", "a\u0085b\u009bc", 0, `"a\u0085b\u009bc"`},
		{"bidi overrides", "a\u202ab\u202ec", 0, `"a\u202ab\u202ec"`},
		{"bidi isolates", "\u2066x\u2069", 0, `"\u2066x\u2069"`},
		{"zero-width characters and BOM", "d\u200bc\u200cf\u200dw\ufeff", 0, `"d\u200bc\u200cf\u200dw\ufeff"`},
		{"soft hyphen", "a\u00adb", 0, `"a\u00adb"`},
		{"line separator", "a\u2028b", 0, `"a\u2028b"`},
		{"no-break space", "a\u00a0b", 0, `"a\u00a0b"`},
		{"hangul filler prints as nothing", "a\u3164b", 0, `"a\u3164b"`},
		{"variation selector", "a\ufe0fb", 0, `"a\ufe0fb"`},
		{"tag character", "a\U000e0041b", 0, `"a\U000e0041b"`},
		{"invalid UTF-8", "a\xffb\xc3", 0, `"a\xffb\xc3"`},
		{"fits the limit exactly", "abc", 5, `"abc"`},
		{"cut with an ellipsis", "abcdef", 7, `"ab…"`},
		{"cut at a character boundary", "ééé", 7, `"é…"`},
		{"cut before an escape, not inside it", "a\u202ebcdef", 10, `"a…"`},
		{"limit below the minimum", "abcdef", 1, `"…"`},
		{"long input, short output", strings.Repeat("x", 1<<20), 10, `"xxxxx…"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Quote(tc.in, tc.limit)
			if got != tc.want {
				t.Errorf("Quote(%.40q, %d) = %.80s, want %s", tc.in, tc.limit, got, tc.want)
			}
			checkQuoted(t, tc.in, tc.limit, got)
		})
	}
}

func TestSafeText(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		limit int
		want  string
	}{
		{"plain is unchanged", "web-1", 0, "web-1"},
		{"quotes and backslashes are left alone", `a"b\c`, 0, `a"b\c`},
		{"controls escaped", "a\nb\x1b[31m", 0, `a\nb\x1b[31m`},
		{"bidi escaped", "evil\u202egnp.exe", 0, `evil\u202egnp.exe`},
		{"zero-width escaped", "dcfw.en\u200bable", 0, `dcfw.en\u200bable`},
		{"leading space kept", " dcfw.enable", 0, " dcfw.enable"},
		{"cut", "abcdef", 5, "ab…"},
		{"cut below the minimum", "abcdef", 1, "…"},
		{"short enough", "abc", 3, "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SafeText(tc.in, tc.limit)
			if got != tc.want {
				t.Errorf("SafeText(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
			}
			checkShown(t, got)
		})
	}
}

// checkShown fails when s has a character that must not reach a log raw.
func checkShown(t testing.TB, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("%q is not valid UTF-8", s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Bidi_Control, r) ||
			unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || (unicode.IsSpace(r) && r != ' ') {
			t.Fatalf("%.80q contains %U", s, r)
		}
	}
}

// checkQuoted checks what Quote promises: only shown characters, within the
// limit, and a Go string literal of s or, when cut, of a prefix of s.
func checkQuoted(t testing.TB, s string, limit int, q string) {
	t.Helper()
	checkShown(t, q)
	if limit > 0 && len(q) > max(limit, minQuoteMax) {
		t.Fatalf("Quote(%.40q, %d) is %d bytes", s, limit, len(q))
	}
	if u, err := strconv.Unquote(q); err == nil && u == s {
		return
	}
	cut, ok := strings.CutSuffix(q, ellipsis+`"`)
	if !ok {
		t.Fatalf("Quote(%.40q, %d) = %.80s: neither s nor cut", s, limit, q)
	}
	u, err := strconv.Unquote(cut + `"`)
	if err != nil || !strings.HasPrefix(s, u) {
		t.Fatalf("Quote(%.40q, %d) = %.80s: %.40q is not a prefix (%v)", s, limit, q, u, err)
	}
}

// FuzzQuote: Quote and SafeText never let a control, format, bidi or
// invisible character through, respect their limit, and Quote's result
// unquotes to the input or a prefix of it.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "dcfw.enable", "a\u202eb", "\x00\xff", "é\u200b\U000e0001", `"\`, "\u3164\ufe0f"} {
		f.Add(s, 0)
		f.Add(s, 6)
	}
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit %= 200
		checkQuoted(t, s, limit, Quote(s, limit))
		st := SafeText(s, limit)
		checkShown(t, st)
		if limit > 0 && len(st) > max(limit, len(ellipsis)) {
			t.Fatalf("SafeText(%q, %d) is %d bytes", s, limit, len(st))
		}
	})
}
