package nft

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dcfw/dcfw/labels"
)

func TestLogToGroup(t *testing.T) {
	byName := map[string]policyCase{}
	for _, c := range policyCases {
		byName[c.name] = c
	}
	tests := []struct {
		name string
		want LogRules
	}{{
		name: "log-rules",
		want: LogRules{
			"dcfw.input.rule.1":  {Chain: InputChain, Label: "dcfw.input.rule.1", Comment: "https", Action: labels.Allow},
			"dcfw.input.rule.2":  {Chain: InputChain, Label: "dcfw.input.rule.2", Action: labels.Deny},
			"dcfw.input.policy":  {Chain: InputChain, Label: "dcfw.input.policy", Action: labels.Deny, Policy: true},
			"dcfw.output.rule.1": {Chain: OutputChain, Label: "dcfw.output.rule.1", Comment: "no mail", Action: labels.Reject},
			"dcfw.output.rule.2": {Chain: OutputChain, Label: "dcfw.output.rule.2", Action: labels.Reject},
			"dcfw.output.policy": {Chain: OutputChain, Label: "dcfw.output.policy", Action: labels.Deny, Policy: true},
		},
	}, {
		name: "reject-policies",
		want: LogRules{
			"dcfw.input.policy":  {Chain: InputChain, Label: "dcfw.input.policy", Action: labels.Reject, Policy: true},
			"dcfw.output.policy": {Chain: OutputChain, Label: "dcfw.output.policy", Action: labels.Reject, Policy: true},
		},
	}, {
		name: "lockdown",
		want: LogRules{
			"dcfw.input.lockdown":  {Chain: InputChain, Action: labels.Deny, Policy: true, Lockdown: true},
			"dcfw.output.lockdown": {Chain: OutputChain, Action: labels.Deny, Policy: true, Lockdown: true},
		},
	}, {
		name: "readme-webserver", // output policy deny; no log rules of its own
		want: LogRules{
			"dcfw.input.policy":  {Chain: InputChain, Label: "dcfw.input.policy", Action: labels.Deny, Policy: true},
			"dcfw.output.policy": {Chain: OutputChain, Label: "dcfw.output.policy", Action: labels.Deny, Policy: true},
		},
	}, {
		name: "on-interfaces", // input deny, output deny
		want: LogRules{
			"dcfw.input.policy":  {Chain: InputChain, Label: "dcfw.input.policy", Action: labels.Deny, Policy: true},
			"dcfw.output.policy": {Chain: OutputChain, Label: "dcfw.output.policy", Action: labels.Deny, Policy: true},
		},
	}, {
		name: "protocols", // both policies allow: nothing is logged
		want: LogRules{},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := byName[tt.name]
			if !ok {
				t.Fatalf("no policy case %s", tt.name)
			}
			tbl, err := c.table()
			if err != nil {
				t.Fatal(err)
			}
			kernelLogs := 0
			for _, ch := range tbl.Chains {
				for _, r := range ch.Rules {
					if r.Log != nil {
						kernelLogs++
					}
				}
			}
			got := tbl.LogToGroup(9)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LogToGroup:\n got %+v\nwant %+v", got, tt.want)
			}
			groupLogs := 0
			for _, ch := range tbl.Chains {
				for _, r := range ch.Rules {
					if r.Log == nil {
						continue
					}
					groupLogs++
					if !r.Log.ToGroup || r.Log.Group != 9 {
						t.Errorf("rule %q still logs to the kernel log: %+v", r.Comment, r.Log)
					}
					if _, ok := got[r.Log.Prefix]; !ok {
						t.Errorf("prefix %q of rule %q not in the map", r.Log.Prefix, r.Comment)
					}
					if r.Limit == nil {
						t.Errorf("rule %q lost its rate limit", r.Comment)
					}
				}
			}
			if groupLogs != kernelLogs {
				t.Errorf("%d log rules after, %d before", groupLogs, kernelLogs)
			}
		})
	}
}

// A log rule's prefix must fit the kernel's limit; a label key that does
// not gets a numbered prefix rather than a cut one.
func TestLogToGroupLongLabel(t *testing.T) {
	long := "dcfw.input.rule." + strings.Repeat("9", 80)
	p := enabled(labels.Deny, labels.Allow, []labels.Rule{
		{Label: long, Action: labels.Deny, Log: true, Proto: labels.TCP, To: labels.Endpoint{Ports: ports("22")}},
	}, nil)
	tbl, err := Compile(p, testID)
	if err != nil {
		t.Fatal(err)
	}
	got := tbl.LogToGroup(1)
	ref, ok := got["dcfw.input.log#1"]
	if !ok || ref.Label != long || ref.Action != labels.Deny {
		t.Fatalf("LogToGroup = %+v, want dcfw.input.log#1 naming %s", got, long)
	}
	for p := range got {
		if len(p) > maxGroupPrefix {
			t.Errorf("prefix %q longer than %d", p, maxGroupPrefix)
		}
	}
}

// Kernel-log tables stay as they were: LogToGroup is the only way in.
func TestCompileLogsToKernelByDefault(t *testing.T) {
	for _, c := range policyCases {
		if c.toGroup {
			continue
		}
		tbl, err := c.table()
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range tbl.Chains {
			for _, r := range ch.Rules {
				if r.Log != nil && (r.Log.ToGroup || !strings.HasPrefix(r.Log.Prefix, "[DCFW ")) {
					t.Errorf("%s: rule %q: %+v", c.name, r.Comment, r.Log)
				}
			}
		}
	}
}

// WithoutLogs removes exactly the log rules: every other rule stays, in
// order.
func TestWithoutLogs(t *testing.T) {
	for _, c := range policyCases {
		if c.toGroup || c.noLogs {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			tbl, err := c.table()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string][]string{}
			for _, ch := range tbl.Chains {
				for _, r := range ch.Rules {
					if r.Log == nil {
						want[ch.Name] = append(want[ch.Name], r.encodedKey())
					}
				}
			}
			tbl.WithoutLogs()
			got := map[string][]string{}
			for _, ch := range tbl.Chains {
				for _, r := range ch.Rules {
					if r.Log != nil {
						t.Errorf("%s: log rule %q left", ch.Name, r.Comment)
					}
					got[ch.Name] = append(got[ch.Name], r.encodedKey())
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("rules other than log rules changed")
			}
		})
	}
}
