package labels

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Warning is a label that is not a dcfw label but most likely was meant to
// be one. Parse ignores such a label, so the container is not protected as
// its labels say: worth telling the person who wrote them.
type Warning struct {
	// Key is the label key as written.
	Key string
	// Msg says why the key is not a dcfw label.
	Msg string
	// Suggestion is the dcfw key it most likely means, or "".
	Suggestion string
}

// String renders the warning on one line, the key quoted when it has
// anything that would not show (see Quote), for example
//
//	dcfw-output.policy: not a dcfw label: dcfw labels start with "dcfw.", with a dot (did you mean "dcfw.output.policy"?)
func (w Warning) String() string {
	var b strings.Builder
	if w.Key != "" {
		b.WriteString(showKey(w.Key))
		b.WriteString(": ")
	}
	b.WriteString(w.Msg)
	if w.Suggestion != "" {
		b.WriteString(" (did you mean ")
		b.WriteString(Quote(w.Suggestion, maxQuotedSuggestion))
		b.WriteString("?)")
	}
	return b.String()
}

// NearMisses returns, sorted by key, the labels whose key is not under
// "dcfw." but would be if it were written right: the prefix in another case
// (DCFW.enable, Dcfw.Output.Policy), another separator after "dcfw"
// (dcfw-output.policy, dcfw_input.rule.1, dcfw:enable), white space around
// the key, or invisible characters anywhere in it (a zero-width space, a
// bidi control, a BOM). Keys that merely contain "dcfw" (com.example.dcfw)
// are not near misses, and keys under exactly "dcfw." are Parse's business.
//
// Parse ignores near misses, except the ones in another case, which it
// reports as unknown labels when dcfw.enable is present (and IgnoredKeys
// lists when it is not). A container whose only dcfw-like labels are near
// misses is Unmanaged: NearMisses is how to notice it. At most MaxErrors
// warnings are returned, the last saying how many more there are.
func NearMisses(labels map[string]string) []Warning {
	var ws []Warning
	for k := range labels {
		if w, ok := nearMiss(k); ok {
			ws = append(ws, w)
		}
	}
	slices.SortFunc(ws, func(a, b Warning) int { return strings.Compare(a.Key, b.Key) })
	if len(ws) > MaxErrors {
		more := len(ws) - (MaxErrors - 1)
		ws = append(ws[:MaxErrors-1:MaxErrors-1], Warning{
			Msg: fmt.Sprintf("… and %d more %s like these", more, plural(more, "label", "labels")),
		})
	}
	return ws
}

// nearMiss checks one key.
func nearMiss(key string) (Warning, bool) {
	if strings.HasPrefix(key, Prefix) {
		return Warning{}, false
	}
	visible := strings.Map(func(r rune) rune {
		if invisible(r) {
			return -1
		}
		return r
	}, key)
	trimmed := strings.TrimFunc(visible, unicode.IsSpace)
	if len(trimmed) <= len(Prefix) || !strings.EqualFold(trimmed[:len(Prefix)-1], Prefix[:len(Prefix)-1]) ||
		!strings.ContainsRune(".-_:", rune(trimmed[len(Prefix)-1])) {
		return Warning{}, false
	}
	// Another separator after "dcfw" is a near miss only when the rest
	// then names a dcfw key, or nearly: dcfw-backup.schedule or
	// dcfw-e2e.run are other tools' labels, not mistakes.
	if trimmed[len(Prefix)-1] != '.' && visible == key && trimmed == visible && meantKey(Prefix+trimmed[len(Prefix):]) == "" {
		return Warning{}, false
	}
	var msg string
	switch {
	case visible != key:
		msg = fmt.Sprintf("not a dcfw label: it contains the invisible character %U", firstInvisible(key))
	case trimmed != visible:
		msg = "not a dcfw label: white space around the key"
	case trimmed[len(Prefix)-1] != '.':
		msg = `not a dcfw label: dcfw labels start with "dcfw.", with a dot`
	default:
		msg = `not a dcfw label: keys are case-sensitive, dcfw labels start with "dcfw."`
	}
	return Warning{Key: key, Msg: msg, Suggestion: meantKey(Prefix + trimmed[len(Prefix):])}, true
}

// invisible reports whether r shows as nothing, or as something other than
// itself, where a key is printed: control and format characters (zero-width
// spaces and joiners, bidi controls, the BOM) and other default-ignorable
// characters. White space is not: it shows as space.
func invisible(r rune) bool {
	return (unicode.IsControl(r) && !unicode.IsSpace(r)) || unicode.Is(unicode.Cf, r) ||
		unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

func firstInvisible(s string) rune {
	for _, r := range s {
		if invisible(r) {
			return r
		}
	}
	return utf8.RuneError
}

// meantKey is the dcfw key a near miss, already under "dcfw.", most likely
// means: a known key or rule key up to case and separators, otherwise the
// closest one (suggestKey), or "".
func meantKey(key string) string {
	if k := exactKey(key); k != "" {
		return k
	}
	return suggestKey(normalKey(key))
}

// normalKey lowers a key under "dcfw." and turns its other separators
// into dots.
func normalKey(key string) string {
	return strings.ToLower(Prefix) + strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == ':' {
			return '.'
		}
		return unicode.ToLower(r)
	}, key[len(Prefix):])
}

// exactKey is the known key or rule key that key names up to case and
// separators, or "".
func exactKey(key string) string {
	l := normalKey(key)
	switch l {
	case KeyEnable, KeyInputPolicy, KeyOutputPolicy:
		return l
	}
	for _, prefix := range []string{InputRulePrefix, OutputRulePrefix} {
		if n, ok := strings.CutPrefix(l, prefix); ok && isDigits(n) {
			return l
		}
	}
	return ""
}
