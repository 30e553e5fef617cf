package labels

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzParseRule: ParseRule never panics; every error points at its token
// and stays within the limits (MaxErrorsPerLabel and a summary, a bounded
// line without raw control, bidi or invisible characters); every accepted
// rule is canonical and its String parses back to an equal rule with the
// same String.
func FuzzParseRule(f *testing.F) {
	for _, tc := range validRules {
		f.Add(tc.text)
	}
	for _, tc := range invalidRules {
		f.Add(tc.text)
	}
	for _, s := range []string{
		`allow log on eth0 proto tcp from 10.0.0.0/8,192.168.0.1 port 1-1024 to any port 80,443 comment "x \" y"`,
		"deny from 2001:db8::/48,2001:db8:1::/48 to ::/0",
		`reject proto udp to any port 53 comment "\\"`,
		"allow\u00a0to\u2003any\u3000port\u00858",
		"allow comment \"a\u202eb\" on e\u200bth0 frm \x1b[31m",
		"allow" + strings.Repeat(" on", 50),
		"allow to " + strings.Repeat(",", 200),
		"allow proto tcp to db,10.0.0.5,API.example.com. port 5432",
		"deny from web,2001:db8::/32 to shop-db-1",
		"allow to web:80,shop_db_1,-x,a..b,web.123",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		r, err := ParseRule(text)
		if err != nil {
			checkErrorInvariants(t, err)
			checkErrorBounds(t, err)
			if n := len(allErrors(err)); n > MaxErrorsPerLabel+1 {
				t.Fatalf("ParseRule: %d errors", n)
			}
			for _, e := range allErrors(err) {
				if e.Value != text || e.Key != "" || e.Offset < 0 {
					t.Fatalf("ParseRule(%q): error %#v", text, e)
				}
			}
			return
		}
		if r.Label != "" {
			t.Fatalf("ParseRule set Label %q", r.Label)
		}
		checkCanonical(t, r)
		checkRoundTrip(t, r)
	})
}

// FuzzParse: Parse never panics on any label set, every error names a key
// of the input and its value, errors are sorted and within the limits, and
// accepted rules are canonical and round-trip. NearMisses never panics and
// renders safely.
func FuzzParse(f *testing.F) {
	f.Add("true", "dcfw.input.rule.1", "allow to any port 80", "dcfw.output.policy", "deny")
	f.Add("yes", "dcfw.input.rule.01", "allow", "dcfw.input.rule.1", "deny")
	f.Add("maybe", "dcfw.inptu.policy", "deny", "dcfw.output.rule.x", "alow")
	f.Add("0", "DCFW.input.policy", "reject", "dcfw.output.rule.4294967296", "allow from ::1 to 10.0.0.1")
	f.Add("true", "dcfw.en\u200bable", "x\u202ey", " dcfw-output.policy\t", "deny")
	f.Add("true", "dcfw.input.rule.1", strings.Repeat("on ", 1500), "dcfw.output.rule.1", strings.Repeat("x", MaxValueLen+1))
	for _, tc := range invalidLabels {
		var kv []string
		for k, v := range tc.labels {
			if k != KeyEnable {
				kv = append(kv, k, v)
			}
		}
		for len(kv) < 4 {
			kv = append(kv, "dcfw.input.policy", "deny")
		}
		f.Add(tc.labels[KeyEnable], kv[0], kv[1], kv[2], kv[3])
	}
	f.Fuzz(func(t *testing.T, enable, k1, v1, k2, v2 string) {
		labels := map[string]string{KeyEnable: enable, k1: v1, k2: v2}
		for _, w := range NearMisses(labels) {
			if _, ok := labels[w.Key]; !ok || strings.HasPrefix(w.Key, Prefix) {
				t.Fatalf("near miss %q", w.Key)
			}
			checkShown(t, w.String())
		}
		pol, err := Parse(labels)
		if err != nil {
			checkErrorInvariants(t, err)
			checkErrorBounds(t, err)
			es := allErrors(err)
			for i, e := range es {
				if e.Key == "" && errors.Is(e, ErrTooManyErrors) {
					continue // the summary of what was left out
				}
				if v, ok := labels[e.Key]; !ok || v != e.Value {
					t.Fatalf("error %v: key/value not from the input", e)
				}
				if i > 0 && compareKeys(es[i-1].Key, e.Key) > 0 {
					t.Fatalf("errors not sorted: %q before %q", es[i-1].Key, e.Key)
				}
			}
			if pol.State == Unmanaged || len(pol.Input.Rules)+len(pol.Output.Rules) > 0 {
				t.Fatalf("policy with error: %#v", pol)
			}
			if !slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) }) {
				t.Fatalf("error without sentinel: %v", err)
			}
			return
		}
		if pol.State == Unmanaged {
			t.Fatalf("dcfw.enable present but Unmanaged")
		}
		for _, chain := range []struct {
			prefix string
			rules  []Rule
		}{{InputRulePrefix, pol.Input.Rules}, {OutputRulePrefix, pol.Output.Rules}} {
			for _, r := range chain.rules {
				if _, ok := labels[r.Label]; !ok || !strings.HasPrefix(r.Label, chain.prefix) {
					t.Fatalf("rule with label %q in chain %s", r.Label, chain.prefix)
				}
				checkCanonical(t, r)
				checkRoundTrip(t, r)
			}
		}
	})
}
