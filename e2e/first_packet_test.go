package e2e

// End-to-end tests of protection before the first packet: dcfw's sandbox
// path puts a starting container's full ruleset in place between the
// moment its namespace holds the runtime's init process and the start of
// its workload, on Debian's 20.10 and on the current engine.
//
//	go test ./e2e -run 'TestFirstPacket|TestConcurrentStarts' -v -count=1

import (
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dcfw/dcfw/droplog"
	"github.com/dcfw/dcfw/internal/harness"
	"github.com/dcfw/dcfw/internal/testpeer"
	dcfwlabels "github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nft"
)

const (
	// firstPacketRuns is how many containers in a row must have their
	// first connect blocked (and as many allowed).
	firstPacketRuns = 20
	// firstConnectTimeout bounds the peer's first connect. A connect
	// dropped on output times out (TCP retransmits); a second is plenty
	// for one that may pass, on the same bridge.
	firstConnectTimeout = time.Second
	// outcomeTimeout bounds the wait for a first-connect container's
	// report (its start included).
	outcomeTimeout = 30 * time.Second
)

// TestFirstPacket checks protection before the first packet. A container's
// entrypoint connects, as its very first action, to a listener its labels
// forbid (output policy deny): the connect must fail, 20 runs in a row. The
// control: the same labels, first connect to the listener they allow,
// succeeds 20 of 20, so what was in place was the full ruleset, not a
// lockdown. Before dcfw runs, both first connects succeed, so a block is
// dcfw's doing and never the test network's.
//
// The connect→rules latency (dcfw's since_connect on the "protection
// applied" line) is logged as p50 and p99 over all runs, with the time
// from the finder seeing the interface to the rules (since_found) and
// from the rules to the process's first timestamp.
func TestFirstPacket(t *testing.T) {
	h := harness.Setup(t)
	testFirstPacket(t, h, h.Bridge(), firstPacketRuns)
}

// TestFirstPacketMacvlan is TestFirstPacket on a macvlan network.
func TestFirstPacketMacvlan(t *testing.T) {
	h := harness.Setup(t)
	testFirstPacket(t, h, h.Macvlan(), firstPacketRuns)
}

// TestFirstPacketBurst: 20 labelled containers whose first action is a
// connect to a listener their labels forbid, and 4 unlabelled ones whose
// first action is the same connect, all started at once. Every labelled
// one is blocked; every unlabelled one passes (dcfw never blocks a
// container it does not manage, even for a moment) and ends up with no
// dcfw table.
func TestFirstPacketBurst(t *testing.T) {
	h := harness.Setup(t)
	testFirstPacketBurst(t, h, false)
}

// TestFirstPacketBurstBusyCPU is TestFirstPacketBurst with every core of
// the machine busy (one spinning process per core, for the whole test).
func TestFirstPacketBurstBusyCPU(t *testing.T) {
	h := harness.Setup(t)
	testFirstPacketBurst(t, h, true)
}

func testFirstPacketBurst(t *testing.T, h *harness.Harness, busy bool) {
	const labelled, unlabelled = 20, 4
	n := h.Bridge()
	forbidden := h.RunContainer(harness.ContainerSpec{Name: "forbidden", Network: n, Cmd: harness.Serve(9002)})
	target := forbidden.Addr(n, 9002)
	policy := labels("dcfw.enable=true", "dcfw.output.policy=deny")
	p := startDcfw(h)
	p.WaitForLog(`INFO\s+initial reconcile`, protectTimeout)
	if busy {
		busyCPUs(t)
	}
	var cs, managed []*harness.Container
	for i := range labelled + unlabelled {
		spec := harness.ContainerSpec{Name: fmt.Sprintf("burst%d", i), Network: n, Cmd: harness.FirstConnect("tcp", target, firstConnectTimeout)}
		if i < labelled {
			spec.Labels = policy
		}
		c := h.CreateContainer(spec)
		cs = append(cs, c)
		if i < labelled {
			managed = append(managed, c)
		}
	}
	mark := p.Mark()
	h.StartAll(cs...)
	blocked, paths := 0, map[string]int{}
	for i, c := range cs {
		report := c.FirstConnectOutcome(outcomeTimeout)
		word, _, _ := strings.Cut(report, " ")
		o, err := testpeer.ParseOutcome(word)
		if err != nil || o == testpeer.Failed || o == testpeer.Unreachable {
			t.Fatalf("%s: first connect %q: the test setup is broken", c.Name, report)
		}
		if i >= labelled {
			if !o.Passed() {
				t.Errorf("unlabelled %s: first connect %v; dcfw must never block a container it does not manage", c.Name, o)
			}
			continue
		}
		if !o.Passed() {
			blocked++
		} else {
			t.Errorf("labelled %s: its first connect to a forbidden listener passed", c.Name)
		}
	}
	for _, c := range managed {
		paths[parseProtection(t, waitProtected(p, mark, c)).path]++
	}
	for _, c := range cs[labelled:] {
		expectNoTable(t, c)
	}
	t.Logf("%d labelled containers started at once (busy CPU: %v): first connect blocked %d of %d; paths %v; %d unlabelled beside them passed and have no table",
		labelled, busy, blocked, labelled, paths, unlabelled)
}

// busyCPUs keeps every CPU busy until the test ends: one spinning shell
// per core.
func busyCPUs(t *testing.T) {
	t.Helper()
	for range runtime.NumCPU() {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
}

func testFirstPacket(t *testing.T, h *harness.Harness, n *harness.Network, runs int) {
	allowed := h.RunContainer(harness.ContainerSpec{Name: "allowed", Network: n, Cmd: harness.Serve(9001)})
	forbidden := h.RunContainer(harness.ContainerSpec{Name: "forbidden", Network: n, Cmd: harness.Serve(9002)})
	allowedAddr, forbiddenAddr := allowed.Addr(n, 9001), forbidden.Addr(n, 9002)
	policy := labels(
		"dcfw.enable=true",
		"dcfw.output.policy=deny",
		"dcfw.output.rule.1=allow proto tcp to "+allowed.IP(n).String()+" port 9001",
	)
	spec := func(name, target string) harness.ContainerSpec {
		return harness.ContainerSpec{Name: name, Network: n, Labels: policy, Cmd: harness.FirstConnect("tcp", target, firstConnectTimeout)}
	}
	// outcome is the container's first connect's outcome, and when its
	// process started (by its own clock, the host's).
	outcome := func(c *harness.Container) (testpeer.Outcome, time.Time) {
		t.Helper()
		report := c.FirstConnectOutcome(outcomeTimeout)
		word, _, _ := strings.Cut(report, " ")
		o, err := testpeer.ParseOutcome(word)
		if err != nil {
			t.Fatalf("%s: %v (report %q)", c.Name, err, report)
		}
		if o == testpeer.Failed || o == testpeer.Unreachable {
			t.Fatalf("%s: first connect %s: the test setup is broken", c.Name, report)
		}
		var started time.Time
		if m := startedField.FindStringSubmatch(report); m != nil {
			started, _ = time.Parse(time.RFC3339Nano, m[1])
		}
		return o, started
	}

	// Control without dcfw.
	for _, target := range []string{allowedAddr, forbiddenAddr} {
		c := h.RunContainer(spec("control", target))
		if o, _ := outcome(c); !o.Passed() {
			t.Fatalf("without dcfw, the first connect to %s: %v; the test network is broken", target, o)
		}
		c.Remove()
	}

	p := startDcfw(h)
	p.WaitForLog(`INFO\s+initial reconcile`, protectTimeout)

	var sinceConnect, sinceSandbox, sinceFound, lead []time.Duration
	paths := map[string]int{}
	run := func(what, target string, wantPass bool) {
		t.Helper()
		passed := 0
		for i := range runs {
			mark := p.Mark()
			c := h.RunContainer(spec(fmt.Sprintf("%s%d", what, i), target))
			o, started := outcome(c)
			line := waitProtected(p, mark, c)
			if i == 0 {
				t.Logf("e.g. %s", line)
			}
			pl := parseProtection(t, line)
			paths[pl.path]++
			if pl.sinceConnect > 0 {
				sinceConnect = append(sinceConnect, pl.sinceConnect)
			}
			if pl.sinceFound > 0 {
				sinceFound = append(sinceFound, pl.sinceFound)
			}
			if pl.sinceSandbox > 0 {
				sinceSandbox = append(sinceSandbox, pl.sinceSandbox)
			}
			if logged, ok := logTime(line); ok && !started.IsZero() {
				lead = append(lead, started.Sub(logged))
			}
			if pl.path != "sandbox" {
				t.Errorf("%s: protected by the %q path, not before its process: %s", c.Name, pl.path, line)
			}
			if o.Passed() {
				passed++
			}
			if o.Passed() != wantPass {
				t.Errorf("run %d: %s's first connect to %s (%s): %v", i+1, c.Name, what, target, o)
			}
			c.Remove()
		}
		t.Logf("first connect to the %s listener: passed %d of %d", what, passed, runs)
	}
	run("forbidden", forbiddenAddr, false)
	run("allowed", allowedAddr, true)

	t.Logf("paths: %v", paths)
	t.Logf("MEASURED %s: connect event → rules in place (dcfw since_connect; none: the rules came first): %s", n.Driver, quantiles(sinceConnect))
	t.Logf("MEASURED %s: sandbox file appeared → rules in place (dcfw since_sandbox): %s", n.Driver, quantiles(sinceSandbox))
	t.Logf("MEASURED %s: owner identified → rules in place (dcfw since_found): %s", n.Driver, quantiles(sinceFound))
	t.Logf("MEASURED %s: rules in place (dcfw's log line, ms resolution) → the process's first timestamp: %s", n.Driver, quantiles(lead))
	if len(lead) > 0 && slices.Min(lead) <= 0 {
		t.Errorf("the rules were in place after the process's first timestamp at least once: %s", quantiles(lead))
	}
	for _, msg := range []string{"protection changed", "drift repaired", "not the container's"} {
		if strings.Contains(p.Log(), msg) {
			t.Errorf("dcfw logged %q:\n%s", msg, p.Log())
		}
	}
}

// TestConcurrentStartsGetTheirOwnRules starts ten containers with different
// policies at once, while dcfw runs; each namespace ends up with exactly its
// own ruleset (the live table, as nft lists it inside the container, equals
// the rendering of the container's own labels), written once.
func TestConcurrentStartsGetTheirOwnRules(t *testing.T) {
	h := harness.Setup(t)
	n := h.Bridge()
	p := startDcfw(h)
	p.WaitForLog(`INFO\s+initial reconcile`, protectTimeout)

	const count = 10
	var cs []*harness.Container
	want := map[*harness.Container]map[string]string{}
	for i := range count {
		port := 8000 + i
		kv := []string{
			"dcfw.enable=true",
			"dcfw.input.policy=" + []string{"deny", "reject", "allow"}[i%3],
			fmt.Sprintf("dcfw.input.rule.1=allow proto tcp to any port %d", port),
			"dcfw.output.policy=" + []string{"allow", "deny", "reject", "deny", "allow"}[i%5],
		}
		switch i % 4 {
		case 1:
			kv = append(kv, fmt.Sprintf("dcfw.output.rule.1=allow proto tcp to %s port %d", n.Addr(200+i), 5000+i))
		case 2:
			kv = append(kv, fmt.Sprintf(`dcfw.input.rule.2=deny log proto udp from %s comment "c%d"`, n.Addr(100+i), i))
		case 3:
			kv = append(kv, fmt.Sprintf("dcfw.output.rule.1=allow proto icmp to %s", n.Subnet))
		}
		if i == count-1 {
			// Broken labels: locked down, on the sandbox path too.
			kv = append(kv, "dcfw.output.rule.2=allow proto tcp to 10.0.0.300")
		}
		l := labels(kv...)
		c := h.CreateContainer(harness.ContainerSpec{Name: fmt.Sprintf("c%d", i), Network: n, Labels: l, Cmd: harness.Serve(port)})
		cs = append(cs, c)
		want[c] = l
	}
	mark := p.Mark()
	h.StartAll(cs...)

	var sinceSandbox []time.Duration
	paths := map[string]int{}
	for _, c := range cs {
		line := waitProtected(p, mark, c)
		pl := parseProtection(t, line)
		paths[pl.path]++
		if pl.path == "sandbox" {
			sinceSandbox = append(sinceSandbox, pl.sinceSandbox)
		}
	}
	for _, c := range cs {
		got := expectTable(t, c)
		exp := expectedTable(t, want[c], c.ID)
		if got != exp {
			t.Errorf("%s's namespace does not hold exactly its own ruleset:\n%s\nwant:\n%s\ndiff:\n%s", c.Name, got, exp, lineDiff(exp, got))
		}
	}
	log := p.LogSince(mark)
	for _, c := range cs {
		if k := strings.Count(log, "protection applied\t{\"container\": \""+c.Name+"\""); k != 1 {
			t.Errorf("%s: protection applied logged %d times", c.Name, k)
		}
	}
	for _, msg := range []string{"protection changed", "drift repaired", "not the container's"} {
		if strings.Contains(log, msg) {
			t.Errorf("dcfw logged %q:\n%s", msg, log)
		}
	}
	t.Logf("%d containers started at once: paths %v; sandbox file → rules (since_sandbox): %s; rules after the start event: %d",
		count, paths, quantiles(sinceSandbox), strings.Count(log, "sandbox path applied the rules after"))
}

// expectedTable is what dcfw must have written for labels l of the
// container id: its policy compiled, or the lockdown for broken labels,
// rendered the way `nft list table inet dcfw` prints it.
func expectedTable(t *testing.T, l map[string]string, id string) string {
	t.Helper()
	policy, err := dcfwlabels.Parse(l)
	if err != nil {
		return inetTable(nft.Lockdown(id))
	}
	tbl, err := nft.Compile(policy, id)
	if err != nil {
		t.Fatalf("compile %v: %v", l, err)
	}
	return inetTable(tbl)
}

// inetTable renders the inet table alone, as `nft list table inet dcfw`
// prints it (Table.String adds the netdev table of the raw-frame filter),
// with its log rules as dcfw writes them by default (--log-blocked=dcfw).
func inetTable(tbl *nft.Table) string {
	inet := tbl.Clone()
	inet.Egress = nil
	inet.LogToGroup(droplog.DefaultGroup)
	return inet.String()
}

// protection is what a "protection applied" line says about the path.
type protection struct {
	path         string
	sinceConnect time.Duration // 0 when not logged
	sinceSandbox time.Duration // 0 when not logged
	sinceFound   time.Duration // 0 when not logged
}

var (
	startedField      = regexp.MustCompile(`started=(\S+)`)
	pathField         = regexp.MustCompile(`"path": "([a-z]+)"`)
	sinceConnectField = regexp.MustCompile(`"since_connect": "([^"]+)"`)
	sinceFoundField   = regexp.MustCompile(`"since_found": "([^"]+)"`)
	sinceSandboxField = regexp.MustCompile(`"since_sandbox": "([^"]+)"`)
)

// parseProtection reads the path and since_connect fields of dcfw's
// console log line.
func parseProtection(t *testing.T, line string) protection {
	t.Helper()
	var pl protection
	m := pathField.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no path field: %s", line)
	}
	pl.path = m[1]
	for _, f := range []struct {
		re  *regexp.Regexp
		dst *time.Duration
	}{{sinceConnectField, &pl.sinceConnect}, {sinceFoundField, &pl.sinceFound}, {sinceSandboxField, &pl.sinceSandbox}} {
		if m := f.re.FindStringSubmatch(line); m != nil {
			d, err := time.ParseDuration(m[1])
			if err != nil {
				t.Fatalf("%s in %q: %v", f.re, line, err)
			}
			*f.dst = d
		}
	}
	return pl
}

// logTime is the timestamp of a dcfw console log line.
func logTime(line string) (time.Time, bool) {
	ts, _, _ := strings.Cut(line, "\t")
	at, err := time.Parse("2006-01-02T15:04:05.000Z0700", ts)
	return at, err == nil
}

// quantiles describes durations by p50, p99 and max (nearest rank).
func quantiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	r := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	return fmt.Sprintf("p50 %s, p99 %s, min %s, max %s (n=%d)", r(rank(0.50)), r(rank(0.99)), r(s[0]), r(s[len(s)-1]), len(s))
}
