package droplog

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nft"
)

const (
	srvIP = "10.99.72.1"
	cliIP = "10.99.72.2"
)

// kernelSetup is a container-like namespace srv with dcfw's real table
// (input deny, a `log` rule, output deny but for one port) logging to an
// NFLOG group, and a client cli linked to it.
type kernelSetup struct {
	srv, cli *testnet.Host
	rules    nft.LogRules
	logs     *observer.ObservedLogs
	r        *Reader
}

func newKernelSetup(t *testing.T, perMinute int) *kernelSetup {
	t.Helper()
	testenv.RequireNetAdmin(t)
	k := &kernelSetup{srv: testnet.NewNS(t, "droplog-srv"), cli: testnet.NewNS(t, "droplog-cli")}
	testnet.Link(t,
		k.srv, testnet.End{Name: "eth0", IPv4: srvIP + "/24", IPv6: "fd00:99:72::1/64"},
		k.cli, testnet.End{Name: "eth0", IPv4: cliIP + "/24", IPv6: "fd00:99:72::2/64"})
	k.srv.ListenTCP(t, ":80")
	k.srv.ListenTCP(t, ":22")
	// Traffic passes before the firewall, so a missing line is not a routing bug.
	for _, a := range []string{srvIP + ":80", srvIP + ":22"} {
		if got := k.cli.DialTCP(a, time.Second); got != testnet.Connected {
			t.Fatalf("before the table: connect %s: %v", a, got)
		}
	}
	tbl, err := nft.Compile(labels.Policy{
		State: labels.Enabled,
		Input: labels.Chain{Policy: labels.Deny, Rules: []labels.Rule{{
			Label: "dcfw.input.rule.2", Action: labels.Allow, Log: true, Proto: labels.TCP,
			To: labels.Endpoint{Ports: []labels.PortRange{{Lo: 22, Hi: 22}}}, Comment: "ssh",
		}}},
		Output: labels.Chain{Policy: labels.Deny},
	}, testContainer.ID)
	if err != nil {
		t.Fatal(err)
	}
	k.rules = tbl.LogToGroup(DefaultGroup)
	c, err := nft.Dial(k.srv.Fd())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Apply(tbl, false); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	k.logs = logs
	k.r, err = Open(k.srv.Fd(), testContainer, k.rules, zap.New(core), Config{PerMinute: perMinute})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { k.r.Close() })
	return k
}

// lines waits up to wait for n entries of the given message whose fields
// have the given values, then quiet more for any extra, and returns them
// all. (The container's own IPv6 multicast listener reports, which its
// output policy blocks, make lines of their own.)
func (k *kernelSetup) lines(t *testing.T, msg string, match map[string]string, n int, wait, quiet time.Duration) []observer.LoggedEntry {
	t.Helper()
	matching := func() []observer.LoggedEntry {
		var out []observer.LoggedEntry
		for _, e := range k.logs.FilterMessage(msg).All() {
			m, ok := e.ContextMap(), true
			for f, v := range match {
				ok = ok && fmt.Sprint(m[f]) == v
			}
			if ok {
				out = append(out, e)
			}
		}
		return out
	}
	deadline := time.Now().Add(wait)
	for len(matching()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(quiet)
	return matching()
}

func checkFields(t *testing.T, e observer.LoggedEntry, want map[string]string) {
	t.Helper()
	got := e.ContextMap()
	for k, v := range want {
		if fmt.Sprint(got[k]) != v {
			t.Errorf("field %s = %v, want %s (line %v)", k, got[k], v, got)
		}
	}
}

func logAllNetns(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/netfilter/nf_log_all_netns")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A blocked connect yields exactly one line with the right fields within a
// second; a `log` rule's match names the rule; an outgoing block names the
// outgoing interface. None of it needs nf_log_all_netns, which stays as it was.
func TestKernelBlockedConnectIsOneLine(t *testing.T) {
	sysctl := logAllNetns(t)
	k := newKernelSetup(t, 0)

	start := time.Now()
	probe := make(chan testnet.Outcome, 1)
	go func() { probe <- k.cli.DialTCP(srvIP+":80", 500*time.Millisecond) }() // one SYN, no retransmission
	to80 := map[string]string{"dport": "80"}
	got := k.lines(t, msgBlocked, to80, 1, time.Second, 0)
	if len(got) != 1 {
		<-probe
		t.Fatalf("%d blocked lines within a second, want 1: %v", len(got), got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("line after %v", d)
	}
	checkFields(t, got[0], map[string]string{
		"container": "web", "id": "0123456789ab", "direction": "in", "verdict": "deny",
		"rule": "dcfw.input.policy", "proto": "tcp", "src": cliIP, "dst": srvIP, "dport": "80", "iface": "eth0",
	})
	if out := <-probe; out != testnet.TimedOut {
		t.Errorf("blocked connect: %v, want TimedOut", out)
	}
	if got := k.lines(t, msgBlocked, to80, 2, 0, 300*time.Millisecond); len(got) != 1 {
		t.Errorf("%d blocked lines for one connect, want exactly 1", len(got))
	}

	if out := k.cli.DialTCP(srvIP+":22", time.Second); out != testnet.Connected {
		t.Fatalf("connect to the ssh rule: %v", out)
	}
	logged := k.lines(t, msgLogged, nil, 1, time.Second, 0)
	if len(logged) != 1 {
		t.Fatalf("%d lines of the log rule, want 1", len(logged))
	}
	checkFields(t, logged[0], map[string]string{
		"direction": "in", "verdict": "allow", "rule": "dcfw.input.rule.2", "comment": "ssh", "dport": "22", "iface": "eth0",
	})

	// Out of the container: its output policy denies.
	if out := k.srv.DialTCP(cliIP+":9", 300*time.Millisecond); out != testnet.TimedOut && out != testnet.NotPermitted {
		t.Fatalf("connect out: %v, want blocked", out)
	}
	outLines := k.lines(t, msgBlocked, map[string]string{"dport": "9"}, 1, time.Second, 0)
	if len(outLines) != 1 {
		t.Fatalf("%d lines for the outgoing connect, want 1: %v", len(outLines), k.logs.All())
	}
	checkFields(t, outLines[0], map[string]string{
		"direction": "out", "verdict": "deny", "rule": "dcfw.output.policy", "src": srvIP, "dst": cliIP, "iface": "eth0",
	})
	// Every blocked line counts (the container's own IPv6 multicast
	// listener reports, which its output policy also blocks, too).
	if n, lines := k.r.Blocked(), k.logs.FilterMessage(msgBlocked).Len(); n != lines {
		t.Errorf("Blocked() = %d, %d blocked lines", n, lines)
	}
	if after := logAllNetns(t); after != sysctl {
		t.Errorf("nf_log_all_netns changed: %q -> %q", sysctl, after)
	}
}

// A flood of 50 blocked connects: the kernel's rate limit (burst 10) lets
// at most 10 records through, the cap (here 4 a minute) writes 4 lines,
// and closing writes a summary of the rest.
func TestKernelFloodStaysWithinCaps(t *testing.T) {
	k := newKernelSetup(t, 4)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k.cli.DialTCP(fmt.Sprintf("%s:%d", srvIP, 1000+i), 300*time.Millisecond)
		}()
		if i%10 == 9 {
			wg.Wait()
		}
	}
	wg.Wait()
	blocked := k.lines(t, msgBlocked, nil, 4, time.Second, 300*time.Millisecond)
	if len(blocked) != 4 {
		t.Errorf("%d lines, want the cap of 4", len(blocked))
	}
	if err := k.r.Close(); err != nil {
		t.Fatal(err)
	}
	sums := k.logs.FilterMessage(msgSuppressed).All()
	if len(sums) != 1 {
		t.Fatalf("%d summaries after Close, want 1", len(sums))
	}
	// Records per rule: the lines written and the lines held back. The
	// flood's are the input policy's; the container's own IPv6 multicast
	// listener reports may add some of the output policy's.
	perRule := map[string]int{}
	for _, e := range blocked {
		perRule[fmt.Sprint(e.ContextMap()["rule"])]++
	}
	for _, f := range strings.Fields(fmt.Sprint(sums[0].ContextMap()["rules"])) {
		rule, n, _ := strings.Cut(f, "=")
		c, _ := strconv.Atoi(n)
		perRule[rule] += c
	}
	total := 0
	for _, n := range perRule {
		total += n
	}
	if n := perRule["dcfw.input.policy"]; n < 10 || n > 11 {
		t.Errorf("%d records of the input policy's log rule, want its burst of 10 (11 if its rate refilled one): %v", n, perRule)
	}
	if fmt.Sprint(sums[0].ContextMap()["lines"]) != fmt.Sprint(total-4) {
		t.Errorf("summary says %v lines held back, want %d", sums[0].ContextMap()["lines"], total-4)
	}
	if n := k.r.Blocked(); n != total {
		t.Errorf("Blocked() = %d, want %d", n, total)
	}
}

// Close closes every descriptor Open opened: nothing of dcfw's holds the
// namespace any more.
func TestKernelCloseReleasesTheNamespace(t *testing.T) {
	testenv.RequireNetAdmin(t)
	h := testnet.NewNS(t, "droplog-close")
	before := openFiles(t)
	r, err := Open(h.Fd(), testContainer, nil, zap.NewNop(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	var opened []string
	for f := range openFiles(t) {
		if !before[f] {
			opened = append(opened, f)
		}
	}
	if len(opened) == 0 {
		t.Fatal("Open opened no descriptors")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	after := openFiles(t)
	for _, f := range opened {
		if after[f] {
			t.Errorf("%s still open after Close", f)
		}
	}
	// The group is free again in the namespace: the kernel saw the socket go.
	r2, err := Open(h.Fd(), testContainer, nil, zap.NewNop(), Config{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	r2.Close()
}

// openFiles returns what the process's descriptors refer to
// ("socket:[123]", paths), each once.
func openFiles(t *testing.T) map[string]bool {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range es {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			out[target] = true
		}
	}
	return out
}
