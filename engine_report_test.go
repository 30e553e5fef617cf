package main

import (
	"strings"
	"testing"
)

func TestEngineNote(t *testing.T) {
	for _, c := range []struct {
		api  string
		want string // substring, "" for no note
	}{
		{"1.41", ""},
		{"1.47", ""},
		{"1.56", ""},
		{"1.57", "newer than any dcfw was tested with"},
		{"2.0", "newer than any dcfw was tested with"},
		{"1.40", "older than any dcfw was tested with"},
		{"1.9", "older than any dcfw was tested with"},
		{"garbage", ""},
	} {
		got := engineNote(c.api)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("engineNote(%q) = %q, want %q", c.api, got, c.want)
		}
	}
}
