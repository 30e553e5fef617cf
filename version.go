package main

import (
	"regexp"
	"runtime/debug"
)

// version is set at build time, by the build command of the README, the
// Dockerfile and scripts/run.sh:
//
//	-ldflags="-X main.version=$(git describe --tags --always --dirty --abbrev=12)"
//
// Go stamps the revision itself (debug.ReadBuildInfo) only in a plain
// clone, and not with -buildvcs=false; a git worktree (whose .git is a
// file) and a source tarball get nothing. git describe works in all the
// checkouts, so that the binary and the image built from it say which
// commit they are.
var version = ""

// bareRevision is what git describe prints without a tag: the abbreviated
// commit, perhaps -dirty.
var bareRevision = regexp.MustCompile(`^[0-9a-f]{7,40}(-dirty)?$`)

// versionString is what `dcfw --version` and the start line say.
func versionString() string {
	bi, _ := debug.ReadBuildInfo()
	return versionFrom(version, bi)
}

// versionFrom chooses, best first: the version given at build time (a bare
// commit made devel-<rev>, as Go's own fallback below), the module version
// Go stamped (a tag, or v0.0.0-<time>-<rev12>[+dirty] in a clone), the
// stamped revision (devel-<rev12>[-dirty]), and else "devel".
func versionFrom(ldflags string, bi *debug.BuildInfo) string {
	if bareRevision.MatchString(ldflags) {
		return "devel-" + ldflags
	}
	if ldflags != "" {
		return ldflags
	}
	if bi == nil {
		return "devel"
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			rev = s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev != "" {
		return "devel-" + rev + dirty
	}
	return "devel"
}
