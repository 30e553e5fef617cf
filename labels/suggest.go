package labels

import "strings"

// suggest returns the candidate closest to word, compared case-insensitively,
// or "" when none is close enough to be a likely typo. aliases maps words
// people bring from other tools (iptables' "drop", "protocol", ...) to what
// they mean here; they win over edit distance.
func suggest(word string, candidates []string, aliases map[string]string) string {
	if len(word) > maxSuggestLen {
		return "" // never close to a short candidate; do not copy it
	}
	// Invisible characters are never meant: d<U+202E>eny means deny.
	w := strings.ToLower(strings.Map(func(r rune) rune {
		if invisible(r) {
			return -1
		}
		return r
	}, word))
	if a, ok := aliases[w]; ok {
		return a
	}
	best, bestDist := "", maxSuggestDistance(len(w))+1
	for _, c := range candidates {
		if d := editDistance(w, strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// maxSuggestLen is the longest word compared with the candidates, in
// bytes. Our words and keys are shorter; longer input is no typo of them.
const maxSuggestLen = 64

// maxSuggestDistance is how many edits still look like a typo: one for short
// words (so "to" does not suggest "on"), up to three for long label keys.
func maxSuggestDistance(n int) int {
	return max(1, min(3, n/4))
}

// editDistance is the optimal-string-alignment distance between a and b
// (insertions, deletions, substitutions and transpositions of neighbouring
// bytes, each costing one), so "form" is one edit from "from". Inputs are
// short; the quadratic table is fine. Long inputs are cut off early: they
// are never close to any of our short candidates.
func editDistance(a, b string) int {
	const limit = maxSuggestLen
	if len(a) > limit || len(b) > limit {
		return limit
	}
	// d[i][j] = distance between a[:i] and b[:j].
	var d [limit + 1][limit + 1]int
	for i := 0; i <= len(a); i++ {
		d[i][0] = i
	}
	for j := 0; j <= len(b); j++ {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
