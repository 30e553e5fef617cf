package labels

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrorRendering(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *Error
		want string
	}{
		{"rule error with suggestion",
			&Error{Key: "dcfw.input.rule.1", Value: "allow proto tcp frm 10.0.0.1", Offset: 16, Token: "frm",
				Msg: `unknown keyword "frm"`, Suggestion: "from", Err: ErrSyntax},
			`dcfw.input.rule.1: "allow proto tcp frm 10.0.0.1": unknown keyword "frm" at column 17 (did you mean "from"?)`},
		{"hint and suggestion",
			&Error{Key: "dcfw.input.rule.1", Value: "alow", Offset: 0, Token: "alow",
				Msg: `unknown action "alow"`, Hint: "a rule starts with allow, deny or reject", Suggestion: "allow", Err: ErrSyntax},
			`dcfw.input.rule.1: "alow": unknown action "alow" at column 1 (a rule starts with allow, deny or reject; did you mean "allow"?)`},
		{"hint only",
			&Error{Key: "dcfw.input.rule.1", Value: "allow to any port 0", Offset: 18, Token: "0",
				Msg: "port 0 out of range", Hint: "ports are 1..65535", Err: ErrValue},
			`dcfw.input.rule.1: "allow to any port 0": port 0 out of range at column 19 (ports are 1..65535)`},
		{"no key (ParseRule)",
			&Error{Value: "allow frm", Offset: 6, Token: "frm", Msg: `unknown keyword "frm"`, Err: ErrSyntax},
			`"allow frm": unknown keyword "frm" at column 7`},
		{"key error",
			&Error{Key: "dcfw.inptu.policy", Value: "deny", Offset: -1, Token: "dcfw.inptu.policy",
				Msg: "unknown label", Suggestion: "dcfw.input.policy", Err: ErrUnknownLabel},
			`dcfw.inptu.policy: unknown label (did you mean "dcfw.input.policy"?)`},
		{"value with quotes is back-quoted",
			&Error{Key: "k", Value: `deny comment "x`, Offset: 13, Token: `"x`, Msg: "unterminated quoted string", Err: ErrSyntax},
			"k: `deny comment \"x`: unterminated quoted string at column 14"},
		{"value with control characters is escaped",
			&Error{Key: "k", Value: "deny comment \"a\nb\"", Offset: 13, Token: "\"a\nb\"", Msg: "m", Err: ErrValue},
			`k: "deny comment \"a\nb\"": m at column 14`},
		{"value with quotes and back quotes is escaped",
			&Error{Key: "k", Value: "deny comment \"`\"", Offset: 0, Token: "deny", Msg: "m", Err: ErrValue},
			"k: \"deny comment \\\"`\\\"\": m at column 1"},
		{"key with a zero-width space is quoted",
			&Error{Key: "dcfw.en\u200bable", Value: "true", Offset: -1, Token: "dcfw.en\u200bable",
				Msg: "unknown label", Suggestion: "dcfw.enable", Err: ErrUnknownLabel},
			`"dcfw.en\u200bable": unknown label (did you mean "dcfw.enable"?)`},
		{"key with a trailing space is quoted",
			&Error{Key: "dcfw.enable ", Value: "true", Offset: -1, Msg: "unknown label", Err: ErrUnknownLabel},
			`"dcfw.enable ": unknown label`},
		{"value with quotes and a bidi override is escaped, not back-quoted",
			&Error{Key: "k", Value: "deny comment \"a\u202eb\"", Offset: 0, Token: "deny", Msg: "m", Err: ErrValue},
			`k: "deny comment \"a\u202eb\"": m at column 1`},
		{"value with a tab is escaped",
			&Error{Key: "k", Value: "deny\tcomment \"x", Offset: 13, Token: `"x`, Msg: "m", Err: ErrSyntax},
			`k: "deny\tcomment \"x": m at column 14`},
		{"a long value is an excerpt around the token, the column in the whole value",
			&Error{Key: "k", Value: strings.Repeat("a ", 250) + "frm" + strings.Repeat(" b", 250), Offset: 500, Token: "frm",
				Msg: `unknown keyword "frm"`, Err: ErrSyntax},
			`k: "…` + strings.Repeat("a ", 20) + "frm" + strings.Repeat(" b", 54) + " …" + `": unknown keyword "frm" at column 501`},
		{"a suggestion is quoted safely",
			&Error{Key: "k", Value: "v", Offset: -1, Msg: "m", Suggestion: "a\nb", Err: ErrValue},
			`k: m (did you mean "a\nb"?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestErrorsIsAs(t *testing.T) {
	_, err := Parse(map[string]string{
		"dcfw.enable":       "true",
		"dcfw.input.rule.1": "allow to any port 0",
		"dcfw.input.rule.2": "allow frm any",
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []error{ErrValue, ErrSyntax} {
		if !errors.Is(err, s) {
			t.Errorf("errors.Is(err, %v) = false", s)
		}
	}
	for _, s := range []error{ErrConflict, ErrUnknownLabel, ErrDuplicateRule, ErrRuleNumber} {
		if errors.Is(err, s) {
			t.Errorf("errors.Is(err, %v) = true", s)
		}
	}
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("errors.As(Errors): %v, %d", errors.As(err, &es), len(es))
	}
	var one *Error
	if !errors.As(err, &one) || one.Key != "dcfw.input.rule.1" {
		t.Errorf("errors.As(*Error) = %v", one)
	}
	// Wrapped by a caller that adds the container name.
	wrapped := fmt.Errorf("container web: %w", err)
	if !errors.Is(wrapped, ErrSyntax) || !errors.As(wrapped, &es) {
		t.Errorf("sentinels lost through wrapping")
	}
}

func TestNoErrorIsNil(t *testing.T) {
	// A typed nil Errors inside an error interface would be != nil.
	if _, err := ParseRule("allow"); err != nil {
		t.Errorf("ParseRule: %#v", err)
	}
	if _, err := Parse(map[string]string{"dcfw.enable": "true"}); err != nil {
		t.Errorf("Parse: %#v", err)
	}
}
