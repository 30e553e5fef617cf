package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine/moby"
)

// The engine API versions dcfw's end-to-end suite runs against (Debian's
// Docker 20.10, and the current moby daemon).
const (
	oldestTestedAPI = "1.41"
	newestTestedAPI = "1.56"
)

// reportEngine logs which engine dcfw talks to, once at start, and what it
// may not do there: an engine newer or older than the tested ones still
// works, but its start order may differ from the one protection before
// the first packet was measured on.
func reportEngine(ctx context.Context, log *zap.Logger, docker *moby.Client) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := docker.ServerVersion(ctx)
	if err != nil {
		log.Warn("cannot read the engine's version", zap.Error(err))
		return
	}
	log.Info("docker engine", zap.String("version", v.Version), zap.String("api_version", v.APIVersion),
		zap.String("api_in_use", docker.APIVersion()), zap.String("os_arch", v.Os+"/"+v.Arch))
	if note := engineNote(v.APIVersion); note != "" {
		log.Warn(note, zap.String("api_version", v.APIVersion),
			zap.String("tested", oldestTestedAPI+" to "+newestTestedAPI))
	}
}

// engineNote says what an engine outside the tested range means, or "".
func engineNote(api string) string {
	switch {
	case compareAPI(api, newestTestedAPI) > 0:
		return fmt.Sprintf("the engine is newer than any dcfw was tested with: protection works as everywhere, but protection before the first packet relies on the start order measured up to API %s (the runtime's init process in the container's cgroup and namespace before the workload runs); should that change, each container protected only once its process runs is logged with the reason", newestTestedAPI)
	case compareAPI(api, oldestTestedAPI) < 0:
		return fmt.Sprintf("the engine is older than any dcfw was tested with (API %s and newer): protection before the first packet may fall back to protection once the process runs, which is logged per container with the reason", oldestTestedAPI)
	}
	return ""
}

// compareAPI compares API versions such as "1.41" numerically; a version
// it cannot read compares as equal (no note).
func compareAPI(a, b string) int {
	pa, oka := apiParts(a)
	pb, okb := apiParts(b)
	if !oka || !okb {
		return 0
	}
	for i := range 2 {
		if pa[i] != pb[i] {
			if pa[i] < pb[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func apiParts(v string) ([2]int, bool) {
	major, minor, ok := strings.Cut(v, ".")
	if !ok {
		return [2]int{}, false
	}
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	return [2]int{ma, mi}, err1 == nil && err2 == nil
}
