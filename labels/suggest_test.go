package labels

import "testing"

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"from", "from", 0}, {"frm", "from", 1}, {"form", "from", 1},
		{"to", "on", 2}, {"inptu", "input", 1}, {"comment", "commnet", 1}, {"", "abc", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct {
		word, want string
	}{
		{"frm", "from"}, {"FRM", "from"}, {"tp", "to"}, {"porrt", "port"}, {"coment", "comment"},
		{"xyz", ""}, {"protocol", "proto"}, {"src", "from"}, {"ob", "on"}, {"up", ""},
	} {
		if got := suggest(tc.word, clauseWords, clauseAliases); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}
