package labels

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// maxErrorLen bounds one Error() line of Parse or ParseRule (errors.go).
const maxErrorLen = 1024

// checkErrorBounds checks the limits on what Parse returns: how many
// errors, how many per label, and how long each line is, with no raw
// control, bidi or invisible character in it.
func checkErrorBounds(t testing.TB, err error) {
	t.Helper()
	es := allErrors(err)
	if len(es) > MaxErrors {
		t.Fatalf("%d errors, at most %d allowed", len(es), MaxErrors)
	}
	perLabel := map[string]int{}
	for i, e := range es {
		if e.Key == "" && errors.Is(e, ErrTooManyErrors) && i != len(es)-1 {
			t.Fatalf("the summary of left-out errors is not last: %d of %d", i, len(es))
		}
		if !errors.Is(e, ErrTooManyErrors) {
			perLabel[e.Key]++
			if perLabel[e.Key] > MaxErrorsPerLabel+1 { // +1: a rule number error
				t.Fatalf("more than %d errors for %.80q", MaxErrorsPerLabel, e.Key)
			}
		}
		s := e.Error()
		if len(s) > maxErrorLen {
			t.Fatalf("error of %d bytes: %.200s", len(s), s)
		}
		checkShown(t, s)
	}
}

func errorBytes(err error) int {
	n := 0
	for _, e := range allErrors(err) {
		n += len(e.Error())
	}
	return n
}

func TestValueTooLong(t *testing.T) {
	long := strings.Repeat("x", MaxValueLen+1000)
	for _, key := range []string{KeyEnable, KeyInputPolicy, "dcfw.output.rule.1", "dcfw.inptu.policy"} {
		t.Run(key, func(t *testing.T) {
			labels := map[string]string{KeyEnable: "true", key: long}
			pol, err := Parse(labels)
			es := allErrors(err)
			if len(es) != 1 || !errors.Is(err, ErrValueTooLong) || es[0].Key != key {
				t.Fatalf("got %v, want one ErrValueTooLong for %s", err, key)
			}
			if pol.State != Enabled {
				t.Errorf("state %v, want enabled (fail closed)", pol.State)
			}
			e := es[0]
			if e.Column() != MaxValueLen+1 || e.Token != "" {
				t.Errorf("column %d, token %q; want the first byte over the limit", e.Column(), e.Token)
			}
			want := fmt.Sprintf("%s: \"…%s…\": value is %d bytes long, at most %d are allowed; it goes over the limit at column %d",
				key, strings.Repeat("x", maxQuotedExcerpt-2-2*len(ellipsis)), MaxValueLen+1000, MaxValueLen, MaxValueLen+1)
			if got := e.Error(); !strings.HasPrefix(got, want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			checkErrorBounds(t, err)
		})
	}
	// At the limit is fine.
	rule := "allow comment " + strings.Repeat("x", 100)
	rule += strings.Repeat(" ", MaxValueLen-len(rule))
	if _, err := Parse(map[string]string{KeyEnable: "true", "dcfw.input.rule.1": rule}); err != nil {
		t.Errorf("a rule of exactly MaxValueLen bytes: %v", err)
	}
	if _, err := ParseRule(rule + " "); !errors.Is(err, ErrValueTooLong) {
		t.Errorf("ParseRule over the limit: %v", err)
	}
	// The cut point is a character boundary, so the column is right.
	wide := strings.Repeat("é", MaxValueLen) // 2 bytes each
	_, err := ParseRule(wide)
	if es := allErrors(err); len(es) != 1 || es[0].Offset != MaxValueLen || es[0].Column() != MaxValueLen/2+1 {
		t.Errorf("multi-byte value: %v", err)
	}
	odd := "a" + wide
	_, err = ParseRule(odd)
	if es := allErrors(err); len(es) != 1 || es[0].Offset != MaxValueLen-1 {
		t.Errorf("cut inside a character: %v", err)
	}
}

func TestTooManyRules(t *testing.T) {
	labels := map[string]string{KeyEnable: "true"}
	for i := range MaxRulesPerChain + 5 {
		labels[fmt.Sprintf("dcfw.input.rule.%d", i)] = "allow"
	}
	for i := range MaxRulesPerChain {
		labels[fmt.Sprintf("dcfw.output.rule.%d", i)] = "deny"
	}
	_, err := Parse(labels)
	es := allErrors(err)
	if len(es) != 1 || !errors.Is(err, ErrTooManyRules) {
		t.Fatalf("got %v, want one ErrTooManyRules", err)
	}
	e := es[0]
	want := fmt.Sprintf("dcfw.input.rule.%d: %d input rule labels, at most %d are allowed; this one and the 4 after it are not read",
		MaxRulesPerChain, MaxRulesPerChain+5, MaxRulesPerChain)
	if !strings.HasPrefix(e.Error(), want) {
		t.Errorf("got  %s\nwant %s", e, want)
	}
	// The rules over the limit are not read: their errors do not show.
	labels[fmt.Sprintf("dcfw.input.rule.%d", MaxRulesPerChain+1)] = "alow"
	if _, err := Parse(labels); len(allErrors(err)) != 1 {
		t.Errorf("a rule over the limit was read: %v", err)
	}
	delete(labels, fmt.Sprintf("dcfw.input.rule.%d", MaxRulesPerChain+1))
	for i := MaxRulesPerChain; i < MaxRulesPerChain+5; i++ {
		delete(labels, fmt.Sprintf("dcfw.input.rule.%d", i))
	}
	if pol, err := Parse(labels); err != nil || len(pol.Input.Rules) != MaxRulesPerChain || len(pol.Output.Rules) != MaxRulesPerChain {
		t.Errorf("exactly at the limit: %d, %d rules, %v", len(pol.Input.Rules), len(pol.Output.Rules), err)
	}
}

func TestErrorsPerLabelCapped(t *testing.T) {
	rule := "allow" + strings.Repeat(" on", 100) // 100 missing interfaces, 99 given twice
	_, err := Parse(map[string]string{KeyEnable: "true", "dcfw.input.rule.1": rule, "dcfw.input.policy": "drop"})
	es := allErrors(err)
	if len(es) != 1+MaxErrorsPerLabel+1 {
		t.Fatalf("%d errors, want %d:\n%v", len(es), 1+MaxErrorsPerLabel+1, err)
	}
	sum := es[len(es)-1]
	if !errors.Is(sum, ErrTooManyErrors) || sum.Key != "dcfw.input.rule.1" || sum.Column() != 13 {
		t.Errorf("summary %v (column %d)", sum, sum.Column())
	}
	if want := "… and 196 more errors in this label, the next at column 13"; !strings.Contains(sum.Error(), want) {
		t.Errorf("summary %q does not say %q", sum, want)
	}
	checkErrorBounds(t, err)
}

func TestErrorsPerParseCapped(t *testing.T) {
	labels := map[string]string{KeyEnable: "true"}
	for i := range 100 {
		labels[fmt.Sprintf("dcfw.input.rule.%d", i)] = "alow"
	}
	_, err := Parse(labels)
	es := allErrors(err)
	if len(es) != MaxErrors {
		t.Fatalf("%d errors, want %d", len(es), MaxErrors)
	}
	for i, e := range es[:MaxErrors-1] {
		if want := fmt.Sprintf("dcfw.input.rule.%d", i); e.Key != want {
			t.Errorf("error %d is about %s, want %s (the first labels in order)", i, e.Key, want)
		}
	}
	last := es[len(es)-1]
	want := fmt.Sprintf("too many errors (at most %d are shown): 1 more error not shown, %d more dcfw labels not checked",
		MaxErrors, 100-MaxErrors)
	if !errors.Is(last, ErrTooManyErrors) || last.Error() != want {
		t.Errorf("last error %q, want %q", last, want)
	}
	checkErrorBounds(t, err)
}

// The same labels always give the same errors, whatever the map order:
// the log's rate limit compares them.
func TestErrorsDeterministic(t *testing.T) {
	labels := map[string]string{KeyEnable: "true"}
	for i := range 60 {
		labels[fmt.Sprintf("dcfw.input.rule.%d", i)] = "alow"
		labels[fmt.Sprintf("dcfw.input.rule.%dx", i)] = "alow"
		labels[fmt.Sprintf("dcfw.x%d", i)] = ""
	}
	_, err := Parse(labels)
	first := err.Error()
	for range 20 {
		if _, err := Parse(labels); err.Error() != first {
			t.Fatalf("errors differ between calls:\n%s\n---\n%s", first, err)
		}
	}
}

func TestCompareKeysTotalOrder(t *testing.T) {
	keys := []string{"dcfw.input.rule.2", "dcfw.input.rule.10", "dcfw.input.rule.1x", "dcfw.input.rule.02",
		"dcfw.input.rule.", "dcfw.input.rule", "dcfw.input.policy", "dcfw.output.rule.1", "dcfw.input.rule.99999999999999999999999"}
	for _, a := range keys {
		for _, b := range keys {
			for _, c := range keys {
				if compareKeys(a, b) < 0 && compareKeys(b, c) < 0 && compareKeys(a, c) >= 0 {
					t.Errorf("not transitive: %s < %s < %s but not %s < %s", a, b, c, a, c)
				}
			}
			if compareKeys(a, b) != -compareKeys(b, a) {
				t.Errorf("not antisymmetric: %s, %s", a, b)
			}
		}
	}
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, compareKeys)
	want := []string{"dcfw.input.policy", "dcfw.input.rule", "dcfw.input.rule.02", "dcfw.input.rule.2", "dcfw.input.rule.10",
		"dcfw.input.rule.", "dcfw.input.rule.1x", "dcfw.input.rule.99999999999999999999999", "dcfw.output.rule.1"}
	if !slices.Equal(sorted, want) {
		t.Errorf("sorted %q\nwant   %q", sorted, want)
	}
}

// bombs are the hostile label sets that made dcfw stall: a 48 KB rule of
// tokens that fail to parse, the same within MaxValueLen, many such rules,
// and 400 rules that each list 16 addresses and 16 ports (valid here; nft
// refuses to compile them).
func bombs() map[string]map[string]string {
	bad48k := strings.Repeat("on ", 16000)
	bad4k := "allow " + strings.Repeat("on ", (MaxValueLen-6)/3)
	many := map[string]string{KeyEnable: "true"}
	for i := range MaxRulesPerChain {
		many[fmt.Sprintf("dcfw.input.rule.%d", i)] = bad4k
		many[fmt.Sprintf("dcfw.output.rule.%d", i)] = bad4k
	}
	lists := map[string]string{KeyEnable: "true"}
	for i := range 400 {
		var addrs, ports []string
		for j := range 16 {
			addrs = append(addrs, fmt.Sprintf("10.%d.%d.1", i%256, j))
			ports = append(ports, fmt.Sprint(1000+2*j))
		}
		lists[fmt.Sprintf("dcfw.input.rule.%d", i)] = "allow proto tcp from " + strings.Join(addrs, ",") + " to any port " + strings.Join(ports, ",")
	}
	return map[string]map[string]string{
		"48KB":        {KeyEnable: "true", "dcfw.input.rule.1": bad48k},
		"4KiB":        {KeyEnable: "true", "dcfw.input.rule.1": bad4k},
		"2000x4KiB":   many,
		"400x16x16":   lists,
		"bidi-48KB":   {KeyEnable: "true", "dcfw.input.rule.1": strings.Repeat("\u202e\u200b\x1b", 4000)},
		"long-keys":   {KeyEnable: "true", "dcfw." + strings.Repeat("\u202e", 100000): "x"},
		"unknown-10k": unknownKeys(10000),
	}
}

func unknownKeys(n int) map[string]string {
	m := map[string]string{KeyEnable: "true"}
	for i := range n {
		m[fmt.Sprintf("dcfw.x.%d", i)] = strings.Repeat("y", MaxValueLen)
	}
	return m
}

// TestBombs: every bomb gives a bounded number of errors of bounded size.
// BenchmarkParseBomb measures how long they take.
func TestBombs(t *testing.T) {
	for name, labels := range bombs() {
		t.Run(name, func(t *testing.T) {
			pol, err := Parse(labels)
			if name == "400x16x16" {
				if err != nil || len(pol.Input.Rules) != 400 {
					t.Fatalf("%d rules, %v", len(pol.Input.Rules), err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			checkErrorInvariants(t, err)
			checkErrorBounds(t, err)
			if n := errorBytes(err); n > MaxErrors*maxErrorLen {
				t.Errorf("%d bytes of errors", n)
			}
			t.Logf("%d errors, %d bytes", len(allErrors(err)), errorBytes(err))
		})
	}
}

func BenchmarkParseBomb(b *testing.B) {
	bs := bombs()
	for _, name := range []string{"48KB", "4KiB", "2000x4KiB", "400x16x16", "bidi-48KB", "long-keys", "unknown-10k"} {
		labels := bs[name]
		b.Run(name, func(b *testing.B) {
			var err error
			for b.Loop() {
				_, err = Parse(labels)
			}
			b.ReportMetric(float64(len(allErrors(err))), "errors")
			b.ReportMetric(float64(errorBytes(err)), "msgbytes")
		})
	}
}
