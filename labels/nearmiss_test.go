package labels

import (
	"fmt"
	"strings"
	"testing"
)

func TestNearMisses(t *testing.T) {
	for _, tc := range []struct {
		key  string
		msg  string // substring of Msg; "" for no near miss
		sugg string
	}{
		// The prefix in another case.
		{"DCFW.enable", "case-sensitive", "dcfw.enable"},
		{"Dcfw.Output.Policy", "case-sensitive", "dcfw.output.policy"},
		{"DCFW.input.rule.7", "case-sensitive", "dcfw.input.rule.7"},
		{"DCFW.enabled", "case-sensitive", "dcfw.enable"},
		// Another separator after dcfw.
		{"dcfw-output.policy", "with a dot", "dcfw.output.policy"},
		{"dcfw_input.rule.1", "with a dot", "dcfw.input.rule.1"},
		{"dcfw:enable", "with a dot", "dcfw.enable"},
		{"dcfw_input_rule_12", "with a dot", "dcfw.input.rule.12"},
		{"DCFW-Input-Polcy", "with a dot", "dcfw.input.policy"},
		// White space around the key.
		{" dcfw.enable", "white space", "dcfw.enable"},
		{"dcfw.input.policy\t", "", ""}, // under "dcfw.": Parse reports it
		{"\u00a0dcfw.output.rule.2 ", "white space", "dcfw.output.rule.2"},
		// Invisible characters.
		{"\u200bdcfw.enable", "invisible character U+200B", "dcfw.enable"},
		{"dc\u200dfw.enable", "invisible character U+200D", "dcfw.enable"},
		{"\ufeffdcfw.input.policy", "invisible character U+FEFF", "dcfw.input.policy"},
		{"d\u202ecfw.enable", "invisible character U+202E", "dcfw.enable"},
		{"dcfw\u2066.enable", "invisible character U+2066", "dcfw.enable"},
		{"dcfw\u009b.enable", "invisible character U+009B", "dcfw.enable"},
		// Not near misses.
		{"dcfw.enable", "", ""},
		{"dcfw.Enable", "", ""}, // under "dcfw.": an unknown label for Parse
		{"dcfw.en\u200bable", "", ""},
		{"com.example.dcfw", "", ""},
		{"com.example.dcfw.enable", "", ""},
		{"dcfwx.enable", "", ""},
		{"dcfw", "", ""},
		{"dcfw-", "", ""},
		{"xdcfw.enable", "", ""},
		{"d cfw.enable", "", ""},
	} {
		t.Run(fmt.Sprintf("%q", tc.key), func(t *testing.T) {
			ws := NearMisses(map[string]string{tc.key: "x", "dcfw.enable": "true", "com.docker.compose.service": "web"})
			if tc.msg == "" {
				if len(ws) != 0 && !(tc.key == "dcfw.enable") {
					t.Fatalf("near misses %v, want none", ws)
				}
				return
			}
			if len(ws) != 1 {
				t.Fatalf("near misses %v, want one", ws)
			}
			w := ws[0]
			if w.Key != tc.key || !strings.Contains(w.Msg, tc.msg) || w.Suggestion != tc.sugg {
				t.Errorf("got %+v, want msg containing %q, suggestion %q", w, tc.msg, tc.sugg)
			}
			checkShown(t, w.String())
		})
	}
}

func TestNearMissRendering(t *testing.T) {
	for _, tc := range []struct {
		key, want string
	}{
		{"dcfw-output.policy", `dcfw-output.policy: not a dcfw label: dcfw labels start with "dcfw.", with a dot (did you mean "dcfw.output.policy"?)`},
		{" dcfw.enable", `" dcfw.enable": not a dcfw label: white space around the key (did you mean "dcfw.enable"?)`},
		{"\u200bdcfw.enable", `"\u200bdcfw.enable": not a dcfw label: it contains the invisible character U+200B (did you mean "dcfw.enable"?)`},
		{"DCFW.x", `DCFW.x: not a dcfw label: keys are case-sensitive, dcfw labels start with "dcfw."`},
	} {
		ws := NearMisses(map[string]string{tc.key: ""})
		if len(ws) != 1 || ws[0].String() != tc.want {
			t.Errorf("got  %v\nwant %s", ws, tc.want)
		}
	}
}

// Near misses are bounded like errors: a hostile image with thousands of
// them gives MaxErrors warnings, the last counting the rest.
func TestNearMissesBounded(t *testing.T) {
	labels := map[string]string{}
	for i := range 5000 {
		labels[fmt.Sprintf("DCFW.input.rule.%d", i)] = "allow"
	}
	ws := NearMisses(labels)
	if len(ws) != MaxErrors {
		t.Fatalf("%d warnings, want %d", len(ws), MaxErrors)
	}
	last := ws[len(ws)-1]
	want := fmt.Sprintf("… and %d more labels like these", 5000-(MaxErrors-1))
	if last.Key != "" || last.String() != want {
		t.Errorf("last warning %q, want %q", last, want)
	}
	if ws[0].Key != "DCFW.input.rule.0" || ws[1].Key != "DCFW.input.rule.1" {
		t.Errorf("not sorted by key: %q, %q", ws[0].Key, ws[1].Key)
	}
}

// Other tools' labels that begin with "dcfw" and another separator are
// not taken for mistakes; the same separators before a dcfw key are.
func TestNearMissesLeaveOtherToolsAlone(t *testing.T) {
	for _, k := range []string{"dcfw-e2e.run", "dcfw-e2e.pid", "dcfw_backup.schedule", "dcfw:owner", "dcfw-whatever"} {
		if ws := NearMisses(map[string]string{k: "x"}); len(ws) != 0 {
			t.Errorf("%s: %v", k, ws)
		}
	}
	for k, want := range map[string]string{"dcfw-enable": "dcfw.enable", "dcfw_output.policy": "dcfw.output.policy", "dcfw:input:rule:3": "dcfw.input.rule.3"} {
		if ws := NearMisses(map[string]string{k: "x"}); len(ws) != 1 || ws[0].Suggestion != want {
			t.Errorf("%s: %v, want a warning meaning %s", k, ws, want)
		}
	}
}
