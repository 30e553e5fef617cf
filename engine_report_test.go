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

func TestKernelAtLeast(t *testing.T) {
	for _, c := range []struct {
		release string
		want    bool
	}{
		{"6.18.44-fc-v595", true},
		{"5.16.0", true},
		{"5.15.0-91-generic", false},
		{"4.19.0", false},
		{"6.1.0-28-amd64", true},
		{"weird", true},
	} {
		if got := kernelAtLeast(c.release, 5, 16); got != c.want {
			t.Errorf("kernelAtLeast(%q) = %v", c.release, got)
		}
	}
}
