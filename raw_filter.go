package main

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// rawFrameFilter says, for the start line, whether this kernel can keep
// containers' raw frames in: the netdev egress hook came with Linux 5.16.
// The first write into a namespace tells for certain (nft.Result's
// EgressUnsupported, logged then); this is what the version promises.
func rawFrameFilter() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	release := unix.ByteSliceToString(u.Release[:])
	if kernelAtLeast(release, 5, 16) {
		return "yes (Linux " + release + " has the netdev egress hook)"
	}
	return fmt.Sprintf("no: Linux %s has no netdev egress hook (5.16 and newer); raw frames from containers with NET_RAW leave unfiltered: drop it (cap_drop: [NET_RAW])", release)
}

// kernelAtLeast compares a kernel release such as "6.18.44-fc" with
// major.minor; an unreadable release counts as new enough (the first write
// tells for certain).
func kernelAtLeast(release string, major, minor int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return true
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > major || ma == major && mi >= minor
}
