package main

import (
	"bytes"
	"runtime/debug"
	"testing"
)

func TestVersionFlag(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v9.8.7"
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--version"}, env(nil), &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got := stdout.String(); got != "dcfw v9.8.7\n" {
		t.Errorf("--version printed %q", got)
	}
}

func TestVersionFrom(t *testing.T) {
	stamped := func(mainVersion string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/dcfw/dcfw", Version: mainVersion}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	const rev = "19edf0c0e527fb4c66bd812ab0f0831b514d5c8e"
	tests := []struct {
		name    string
		ldflags string
		bi      *debug.BuildInfo
		want    string
	}{
		{"git describe, a bare commit", "19edf0c0e527", stamped("(devel)"), "devel-19edf0c0e527"},
		{"git describe, a bare commit with changes", "19edf0c0e527-dirty", nil, "devel-19edf0c0e527-dirty"},
		{"git describe, a tag", "v1.2.0", stamped("(devel)"), "v1.2.0"},
		{"git describe, after a tag", "v1.2.0-3-g19edf0c0e527-dirty", nil, "v1.2.0-3-g19edf0c0e527-dirty"},
		{"the build's version wins over Go's stamp", "v1.2.0", stamped("v0.0.0-20261130175635-19edf0c0e527"), "v1.2.0"},
		{"Go's stamp in a clone", "", stamped("v0.0.0-20261130175635-19edf0c0e527+dirty", "vcs.revision", rev), "v0.0.0-20261130175635-19edf0c0e527+dirty"},
		{"a revision without a module version", "", stamped("(devel)", "vcs.revision", rev, "vcs.modified", "false"), "devel-19edf0c0e527"},
		{"a modified revision", "", stamped("", "vcs.revision", rev, "vcs.modified", "true"), "devel-19edf0c0e527-dirty"},
		{"nothing stamped (-buildvcs=false, a worktree)", "", stamped("(devel)"), "devel"},
		{"no build info", "", nil, "devel"},
	}
	for _, tt := range tests {
		if got := versionFrom(tt.ldflags, tt.bi); got != tt.want {
			t.Errorf("%s: versionFrom(%q, ...) = %q, want %q", tt.name, tt.ldflags, got, tt.want)
		}
	}
}
