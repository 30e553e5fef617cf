package reconcile

import (
	"fmt"

	"github.com/dcfw/dcfw/labels"
)

// Container names, label keys and network names come from whoever starts a
// container, and label keys and values from its image too: printed raw, a
// newline forges a log line, an escape sequence rewrites the terminal and
// a bidi override or a zero-width space makes text read as something else.
// Everything of theirs reaches the log through these and engine.SafeName
// (names), escaped and bounded (labels.SafeText); label errors are
// already (labels.Error).
const (
	maxLoggedKey  = 100 // a label key
	maxLoggedKeys = 10  // label keys listed in one line
	maxLoggedText = 1024
)

// safeText is other text from labels or the engine (an error message) for
// a log field.
func safeText(s string) string { return labels.SafeText(s, maxLoggedText) }

// safeKeys are label keys for a log field: each escaped and bounded, at
// most maxLoggedKeys of them, then how many more there are.
func safeKeys(keys []string) []string {
	n := min(len(keys), maxLoggedKeys)
	out := make([]string, n, n+1)
	for i := range n {
		out[i] = labels.SafeText(keys[i], maxLoggedKey)
	}
	if more := len(keys) - n; more > 0 {
		out = append(out, fmt.Sprintf("… and %d more", more))
	}
	return out
}
