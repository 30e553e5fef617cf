package e2e

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dcfw/dcfw/internal/harness"
	"github.com/dcfw/dcfw/internal/testpeer"
)

// Timeouts of the controller tests. They bound waits for something that
// must happen; none of them is a performance assertion.
const (
	// protectTimeout: from starting dcfw (or an event) until a container's
	// protection is logged. dcfw needs milliseconds; the bound is for a
	// loaded machine.
	protectTimeout = 30 * time.Second
	// dcfwInterval is the --interval of the daemons the tests start.
	dcfwInterval = time.Second
)

// startDcfw starts the dcfw daemon scoped to this run's containers: the
// engine is shared with other test runs (and people), whose labelled
// containers this run's dcfw must not touch.
func startDcfw(h *harness.Harness, args ...string) *harness.Process {
	h.T().Helper()
	return h.StartDcfw(dcfwArgs(h, args...)...)
}

func dcfwArgs(h *harness.Harness, args ...string) []string {
	return h.ScopedDcfwArgs(append([]string{"--interval", dcfwInterval.String(), "--log-level", "debug"}, args...)...)
}

// runDcfwOnce runs `dcfw --once` (scoped, with args) to its end and
// returns its exit code and output.
func runDcfwOnce(h *harness.Harness, args ...string) (int, string) {
	h.T().Helper()
	p := h.StartDcfw(dcfwArgs(h, append([]string{"--once"}, args...)...)...)
	code := p.Wait(2 * time.Minute)
	return code, p.Log()
}

// logLine is the pattern of dcfw's console log line with message msg
// about container c (the "container" field comes first).
func logLine(level, msg string, c *harness.Container) string {
	return level + `\s+` + regexp.QuoteMeta(msg) + `\s+\{"container": "` + regexp.QuoteMeta(c.Name) + `"`
}

// waitProtected waits until dcfw logged that c's protection was applied
// (after mark) and returns the line.
func waitProtected(p *harness.Process, mark int, c *harness.Container) string {
	return p.WaitForLogSince(mark, logLine("INFO", "protection applied", c), protectTimeout)
}

// expectTable checks that c's namespace holds dcfw's table and returns it.
func expectTable(t *testing.T, c *harness.Container) string {
	t.Helper()
	table, ok := c.NftTable()
	if !ok {
		t.Fatalf("no table inet dcfw in %s's namespace", c.Name)
	}
	return table
}

// expectNoTable checks that c's namespace has no dcfw table.
func expectNoTable(t *testing.T, c *harness.Container) {
	t.Helper()
	if table, ok := c.NftTable(); ok {
		t.Fatalf("%s's namespace has a dcfw table:\n%s", c.Name, table)
	}
}

// flow is one connection attempt and what it must come to.
type flow struct {
	from    *harness.Container
	proto   string
	to      string // ip:port
	passes  bool   // Connected/Answered; otherwise dropped (timeout or EPERM)
	comment string
}

// checkFlows runs each connection attempt and checks its outcome.
func checkFlows(t *testing.T, flows []flow) {
	t.Helper()
	for _, f := range flows {
		got := f.from.Connect(f.proto, f.to)
		switch {
		case f.passes && !got.Passed():
			t.Errorf("%s: %s → %s %s: %v, want it to pass", f.comment, f.from.Name, f.proto, f.to, got)
		case !f.passes && !got.Blocked():
			t.Errorf("%s: %s → %s %s: %v, want it dropped (timeout or not permitted)", f.comment, f.from.Name, f.proto, f.to, got)
		}
	}
}

// checkAllPass is the control: without dcfw every flow passes, so a block
// seen later is dcfw's doing and never a routing problem of the test.
func checkAllPass(t *testing.T, flows []flow) {
	t.Helper()
	for _, f := range flows {
		if got := f.from.Connect(f.proto, f.to); got != testpeer.Connected && got != testpeer.Answered {
			t.Fatalf("control (no firewall yet): %s → %s %s: %v; the test setup is broken", f.from.Name, f.proto, f.to, got)
		}
	}
}

// labels builds a label map from "key=value" strings.
func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for _, s := range kv {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			panic(fmt.Sprintf("label %q has no =", s))
		}
		m[k] = v
	}
	return m
}

// allowedNet is the part of n's subnet the web server policy admits: the
// first /27 (host numbers 0-31). Clients outside it use numbers 32-63.
func allowedNet(n *harness.Network) netip.Prefix {
	return netip.PrefixFrom(n.Subnet.Addr(), 27)
}

// lineDiff shows the lines only in a ("-") and only in b ("+").
func lineDiff(a, b string) string {
	count := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(b, "\n") {
		count[l]--
	}
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if count[l] > 0 {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if count[l] < 0 {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
