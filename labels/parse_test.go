package labels

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func mustRule(t testing.TB, key, text string) Rule {
	t.Helper()
	r, err := ParseRule(text)
	if err != nil {
		t.Fatalf("ParseRule(%q): %v", text, err)
	}
	r.Label = key
	return r
}

// The two compose examples of the original DCFW README, label for label.
func TestParseReadmeExamples(t *testing.T) {
	webserver := map[string]string{
		"dcfw.enable":        "true",
		"dcfw.input.policy":  "deny",
		"dcfw.input.rule.1":  "allow on eth0 proto tcp from 192.168.110.0/24 to any port 80",
		"dcfw.input.rule.2":  "allow on eth0 proto tcp from 172.16.64.0/24 to any port 80",
		"dcfw.output.policy": "deny",
		"dcfw.output.rule.1": `allow proto tcp to 192.168.150.6 port 3306 comment "Allow access to MariaDB"`,
	}
	got, err := Parse(webserver)
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{
		State: Enabled,
		Input: Chain{Policy: Deny, Rules: []Rule{
			{Label: "dcfw.input.rule.1", Action: Allow, Iface: "eth0", Proto: TCP, Family: IPv4,
				From: Endpoint{Addrs: prefixes(t, "192.168.110.0/24")}, To: Endpoint{Ports: ports(port(80))}},
			{Label: "dcfw.input.rule.2", Action: Allow, Iface: "eth0", Proto: TCP, Family: IPv4,
				From: Endpoint{Addrs: prefixes(t, "172.16.64.0/24")}, To: Endpoint{Ports: ports(port(80))}},
		}},
		Output: Chain{Policy: Deny, Rules: []Rule{
			{Label: "dcfw.output.rule.1", Action: Allow, Proto: TCP, Family: IPv4,
				To:      Endpoint{Addrs: prefixes(t, "192.168.150.6"), Ports: ports(port(3306))},
				Comment: "Allow access to MariaDB"},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("webserver:\n got %#v\nwant %#v", got, want)
	}

	// The second example writes labels as a list (- key=value); compose
	// hands Docker the same map, with the proxy rule instead.
	proxy := map[string]string{
		"dcfw.enable":        "true",
		"dcfw.input.policy":  "deny",
		"dcfw.input.rule.1":  "allow on eth0 proto tcp from 192.168.110.0/24 to any port 80",
		"dcfw.input.rule.2":  "allow on eth0 proto tcp from 172.16.64.0/24 to any port 80",
		"dcfw.output.policy": "deny",
		"dcfw.output.rule.1": `allow proto tcp to 192.168.150.6 port 8080 comment "Allow communication to proxy"`,
	}
	got, err = Parse(proxy)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Enabled || got.Input.Policy != Deny || got.Output.Policy != Deny ||
		len(got.Input.Rules) != 2 || len(got.Output.Rules) != 1 ||
		got.Output.Rules[0].String() != `allow proto tcp to 192.168.150.6 port 8080 comment "Allow communication to proxy"` {
		t.Errorf("proxy example: %#v", got)
	}
}

func TestParseUnmanaged(t *testing.T) {
	for _, labels := range []map[string]string{
		nil,
		{},
		{"com.docker.compose.service": "web"},
		// Without dcfw.enable nothing is validated, as in the original.
		{"dcfw.input.rule.1": "this is not a rule", "dcfw.input.polcy": "deny"},
		{"dcfw.enabled": "true"},
		{"DCFW.enable": "true"},
	} {
		got, err := Parse(labels)
		if err != nil || !reflect.DeepEqual(got, Policy{State: Unmanaged}) {
			t.Errorf("Parse(%v) = %#v, %v; want unmanaged", labels, got, err)
		}
	}
}

func TestIgnoredKeys(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   []string
	}{
		{nil, nil},
		{map[string]string{"a": "b"}, nil},
		{map[string]string{"dcfw.enable": "true", "dcfw.foo": "x"}, nil},
		{map[string]string{"dcfw.input.rule.1": "allow", "dcfw.enabled": "true", "DCFW.x": "", "dcfwx": "", "other": ""},
			[]string{"DCFW.x", "dcfw.enabled", "dcfw.input.rule.1"}},
	} {
		if got := IgnoredKeys(tc.labels); !slices.Equal(got, tc.want) {
			t.Errorf("IgnoredKeys(%v) = %q, want %q", tc.labels, got, tc.want)
		}
	}
}

func TestParseEnable(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  State
	}{
		{"true", Enabled}, {"TRUE", Enabled}, {"True", Enabled}, {"yes", Enabled}, {"Yes", Enabled},
		{"on", Enabled}, {"ON", Enabled}, {"1", Enabled}, {"t", Enabled}, {"T", Enabled}, {"y", Enabled}, {"Y", Enabled},
		{" true\n", Enabled},
		{"false", Disabled}, {"FALSE", Disabled}, {"no", Disabled}, {"No", Disabled}, {"off", Disabled}, {"OFF", Disabled},
		{"0", Disabled}, {"f", Disabled}, {"F", Disabled}, {"n", Disabled}, {"N", Disabled},
	} {
		got, err := Parse(map[string]string{"dcfw.enable": tc.value})
		if err != nil {
			t.Errorf("dcfw.enable=%q: %v", tc.value, err)
			continue
		}
		want := Policy{State: tc.want, Input: Chain{Policy: Deny}, Output: Chain{Policy: Allow}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("dcfw.enable=%q: %#v, want %#v", tc.value, got, want)
		}
	}
}

func TestParsePolicyWords(t *testing.T) {
	for _, tc := range []struct {
		in, out string
		wantIn  Action
		wantOut Action
	}{
		{"", "", Deny, Allow}, // absent: the defaults
		{"allow", "deny", Allow, Deny},
		{"ALLOW", "Reject", Allow, Reject},
		{" reject ", "DENY", Reject, Deny},
	} {
		labels := map[string]string{"dcfw.enable": "true"}
		if tc.in != "" {
			labels["dcfw.input.policy"] = tc.in
		}
		if tc.out != "" {
			labels["dcfw.output.policy"] = tc.out
		}
		got, err := Parse(labels)
		if err != nil {
			t.Fatalf("%v: %v", labels, err)
		}
		if got.Input.Policy != tc.wantIn || got.Output.Policy != tc.wantOut {
			t.Errorf("%v: input %v, output %v; want %v, %v", labels, got.Input.Policy, got.Output.Policy, tc.wantIn, tc.wantOut)
		}
	}
}

func TestParseRuleOrder(t *testing.T) {
	labels := map[string]string{
		"dcfw.enable":                 "yes",
		"dcfw.input.rule.10":          "deny to 10.0.0.10",
		"dcfw.input.rule.2":           "deny to 10.0.0.2",
		"dcfw.input.rule.0":           "deny to 10.0.0.0",
		"dcfw.input.rule.0100":        "deny to 10.0.0.100",
		"dcfw.output.rule.4294967295": "allow to 10.1.0.0/16",
		"dcfw.output.rule.3":          "allow to 10.3.0.0/16",
		"unrelated.label":             "ignored",
		"dcfwx.enable":                "not ours",
	}
	got, err := Parse(labels)
	if err != nil {
		t.Fatal(err)
	}
	var gotIn, gotOut []string
	for _, r := range got.Input.Rules {
		gotIn = append(gotIn, r.Label)
	}
	for _, r := range got.Output.Rules {
		gotOut = append(gotOut, r.Label)
	}
	wantIn := []string{"dcfw.input.rule.0", "dcfw.input.rule.2", "dcfw.input.rule.10", "dcfw.input.rule.0100"}
	wantOut := []string{"dcfw.output.rule.3", "dcfw.output.rule.4294967295"}
	if !slices.Equal(gotIn, wantIn) || !slices.Equal(gotOut, wantOut) {
		t.Errorf("order: input %q, output %q; want %q, %q", gotIn, gotOut, wantIn, wantOut)
	}
	if want := mustRule(t, "dcfw.input.rule.10", "deny to 10.0.0.10"); !reflect.DeepEqual(got.Input.Rules[2], want) {
		t.Errorf("rule 10: %#v, want %#v", got.Input.Rules[2], want)
	}
}

// wantLabelErr is one expected error of Parse.
type wantLabelErr struct {
	key  string
	is   error
	msg  string // substring of Msg
	sugg string
}

var invalidLabels = []struct {
	name      string
	labels    map[string]string
	wantState State
	want      []wantLabelErr
}{
	{"enable not a boolean", map[string]string{"dcfw.enable": "maybe"}, Enabled,
		[]wantLabelErr{{"dcfw.enable", ErrValue, `"maybe" is not a boolean`, ""}}},
	{"enable empty", map[string]string{"dcfw.enable": ""}, Enabled,
		[]wantLabelErr{{"dcfw.enable", ErrValue, `"" is not a boolean`, ""}}},
	{"enable enabled", map[string]string{"dcfw.enable": "enabled"}, Enabled,
		[]wantLabelErr{{"dcfw.enable", ErrValue, `not a boolean`, ""}}},
	{"unknown policy word", map[string]string{"dcfw.enable": "true", "dcfw.input.policy": "drop"}, Enabled,
		[]wantLabelErr{{"dcfw.input.policy", ErrValue, `unknown policy "drop"`, "deny"}}},
	{"misspelt policy word", map[string]string{"dcfw.enable": "true", "dcfw.output.policy": "alow"}, Enabled,
		[]wantLabelErr{{"dcfw.output.policy", ErrValue, `unknown policy "alow"`, "allow"}}},
	{"empty policy", map[string]string{"dcfw.enable": "true", "dcfw.output.policy": ""}, Enabled,
		[]wantLabelErr{{"dcfw.output.policy", ErrValue, `unknown policy ""`, ""}}},
	{"rule number not numeric", map[string]string{"dcfw.enable": "true", "dcfw.input.rule.x": "allow"}, Enabled,
		[]wantLabelErr{{"dcfw.input.rule.x", ErrRuleNumber, `rule number "x" is not a decimal number`, ""}}},
	{"rule number signed", map[string]string{"dcfw.enable": "true", "dcfw.input.rule.-1": "allow", "dcfw.output.rule.+1": "allow"}, Enabled,
		[]wantLabelErr{
			{"dcfw.input.rule.-1", ErrRuleNumber, `rule number "-1" is not a decimal number`, ""},
			{"dcfw.output.rule.+1", ErrRuleNumber, `rule number "+1"`, ""},
		}},
	{"rule number with a dot", map[string]string{"dcfw.enable": "true", "dcfw.input.rule.1.5": "allow"}, Enabled,
		[]wantLabelErr{{"dcfw.input.rule.1.5", ErrRuleNumber, `rule number "1.5"`, ""}}},
	{"rule number missing", map[string]string{"dcfw.enable": "true", "dcfw.input.rule.": "allow", "dcfw.output.rule": "allow"}, Enabled,
		[]wantLabelErr{
			{"dcfw.input.rule.", ErrRuleNumber, "missing rule number", ""},
			{"dcfw.output.rule", ErrRuleNumber, "missing rule number", ""},
		}},
	{"rule number too large", map[string]string{"dcfw.enable": "true", "dcfw.input.rule.4294967296": "allow"}, Enabled,
		[]wantLabelErr{{"dcfw.input.rule.4294967296", ErrRuleNumber, "too large", ""}}},
	{"duplicate rule number", map[string]string{"dcfw.enable": "true", "dcfw.input.rule.1": "allow", "dcfw.input.rule.01": "deny"}, Enabled,
		[]wantLabelErr{{"dcfw.input.rule.01", ErrDuplicateRule, "rule number 1 is also used by dcfw.input.rule.1", ""}}},
	{"triple rule number", map[string]string{"dcfw.enable": "true", "dcfw.output.rule.007": "allow", "dcfw.output.rule.7": "allow", "dcfw.output.rule.07": "allow"}, Enabled,
		[]wantLabelErr{
			{"dcfw.output.rule.007", ErrDuplicateRule, "also used by dcfw.output.rule.7", ""},
			{"dcfw.output.rule.07", ErrDuplicateRule, "also used by dcfw.output.rule.7", ""},
		}},
	{"bad rule with a duplicate number", map[string]string{"dcfw.enable": "true", "dcfw.input.rule.1": "allow", "dcfw.input.rule.01": "alow"}, Enabled,
		[]wantLabelErr{
			{"dcfw.input.rule.01", ErrDuplicateRule, "also used by dcfw.input.rule.1", ""},
			{"dcfw.input.rule.01", ErrSyntax, `unknown action "alow"`, "allow"},
		}},
	{"unknown keys with suggestions", map[string]string{
		"dcfw.enable":         "true",
		"dcfw.inptu.policy":   "deny",
		"dcfw.enabled":        "true",
		"dcfw.input.default":  "deny",
		"dcfw.input.rules.3":  "allow",
		"dcfw.ouput.rule.7":   "allow",
		"DCFW.output.policy":  "deny",
		"dcfw.Input.Policy":   "deny",
		"dcfw.something.else": "x",
	}, Enabled, []wantLabelErr{
		{"DCFW.output.policy", ErrUnknownLabel, "unknown label", "dcfw.output.policy"},
		{"dcfw.Input.Policy", ErrUnknownLabel, "unknown label", "dcfw.input.policy"},
		{"dcfw.enabled", ErrUnknownLabel, "unknown label", "dcfw.enable"},
		{"dcfw.inptu.policy", ErrUnknownLabel, "unknown label", "dcfw.input.policy"},
		{"dcfw.input.default", ErrUnknownLabel, "unknown label", "dcfw.input.policy"},
		{"dcfw.input.rules.3", ErrUnknownLabel, "unknown label", "dcfw.input.rule.3"},
		{"dcfw.ouput.rule.7", ErrUnknownLabel, "unknown label", "dcfw.output.rule.7"},
		{"dcfw.something.else", ErrUnknownLabel, "unknown label", ""},
	}},
	{"disabled container is still checked", map[string]string{"dcfw.enable": "false", "dcfw.input.rule.1": "allow to any port 0"}, Disabled,
		[]wantLabelErr{{"dcfw.input.rule.1", ErrValue, "port 0 out of range", ""}}},
	{"errors of all labels, sorted by key and rule number", map[string]string{
		"dcfw.enable":         "true",
		"dcfw.output.rule.10": "allow frm 10.0.0.1",
		"dcfw.output.rule.9":  "allow to",
		"dcfw.input.rule.2":   "allow proto icmp to any port 8",
		"dcfw.input.rule.1":   "allow to 10.0.0.1",
		"dcfw.input.policy":   "accept",
	}, Enabled, []wantLabelErr{
		{"dcfw.input.policy", ErrValue, `unknown policy "accept"`, "allow"},
		{"dcfw.input.rule.2", ErrConflict, "port with protocol icmp", ""},
		{"dcfw.output.rule.9", ErrSyntax, `missing address list after "to"`, ""},
		{"dcfw.output.rule.10", ErrSyntax, `unknown keyword "frm"`, "from"},
	}},
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range invalidLabels {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.labels)
			if err == nil {
				t.Fatalf("Parse(%v) = %#v, want an error", tc.labels, got)
			}
			if want := (Policy{State: tc.wantState}); !reflect.DeepEqual(got, want) {
				t.Errorf("policy returned with the error: %#v, want %#v", got, want)
			}
			checkErrorInvariants(t, err)
			errs := allErrors(err)
			if len(errs) != len(tc.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(errs), len(tc.want), err)
			}
			for i, w := range tc.want {
				e := errs[i]
				if e.Key != w.key || !errors.Is(e, w.is) || !strings.Contains(e.Msg, w.msg) || e.Suggestion != w.sugg {
					t.Errorf("error %d: %v (key %q, sentinel %v, suggestion %q)\nwant key %q, sentinel %v, msg containing %q, suggestion %q",
						i, e, e.Key, e.Err, e.Suggestion, w.key, w.is, w.msg, w.sugg)
				}
				if v, ok := tc.labels[e.Key]; !ok || e.Value != v {
					t.Errorf("error %d: value %q, label value %q", i, e.Value, v)
				}
				if !strings.HasPrefix(e.Error(), e.Key+": ") {
					t.Errorf("error %d does not start with its key: %v", i, e)
				}
			}
		})
	}
}

// A rule error from Parse names its key, quotes the whole rule and points
// at the token: the format people read in the logs.
func TestParseErrorRendering(t *testing.T) {
	_, err := Parse(map[string]string{
		"dcfw.enable":        "true",
		"dcfw.input.rule.1":  "allow proto tcp frm 10.0.0.1",
		"dcfw.output.rule.1": `allow to 10.0.0.1 comment "a \"quoted\" word`,
		"dcfw.inptu.policy":  "deny",
	})
	want := strings.Join([]string{
		`dcfw.inptu.policy: unknown label (did you mean "dcfw.input.policy"?)`,
		`dcfw.input.rule.1: "allow proto tcp frm 10.0.0.1": unknown keyword "frm" at column 17 (did you mean "from"?)`,
		"dcfw.output.rule.1: `allow to 10.0.0.1 comment \"a \\\"quoted\\\" word`: unterminated quoted string at column 27",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}
