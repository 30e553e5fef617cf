package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dcfw/dcfw/internal/harness"
	"github.com/dcfw/dcfw/reconcile"
)

// End-to-end tests of blocked packets in dcfw's own log (--log-blocked=dcfw,
// the default) and of `dcfw status`. dcfw logs JSON here, one object a
// line, which the tests read as a user's jq would.

// nfLogAllNetns is the host's sysctl that gates the kernel log backend
// outside the host's namespace: dcfw's own log must not need it, and dcfw
// must never change it.
const nfLogAllNetns = "/proc/sys/net/netfilter/nf_log_all_netns"

// sysctlNfLogAllNetns reads it ("" when the kernel has none: nf_log not
// loaded, which is as good as 0).
func sysctlNfLogAllNetns(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(nfLogAllNetns)
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// checkSysctlUntouched reads the sysctl now and again when the test ends.
func checkSysctlUntouched(t *testing.T) {
	before := sysctlNfLogAllNetns(t)
	t.Logf("net.netfilter.nf_log_all_netns = %q", before)
	t.Cleanup(func() {
		if after := sysctlNfLogAllNetns(t); after != before {
			t.Errorf("net.netfilter.nf_log_all_netns was %q before the test, %q after", before, after)
		}
	})
}

// logEntry is one JSON line of dcfw's log.
type logEntry map[string]any

func (e logEntry) str(k string) string {
	switch v := e[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(e[k])
}

func (e logEntry) time(t *testing.T) time.Time {
	t.Helper()
	ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", e.str("ts"))
	if err != nil {
		t.Fatalf("log line time %q: %v", e.str("ts"), err)
	}
	return ts
}

// entries returns dcfw's JSON log lines (after mark) with message msg whose
// fields have the values in match.
func entries(p *harness.Process, mark int, msg string, match map[string]string) []logEntry {
	var out []logEntry
	for _, line := range strings.Split(p.LogSince(mark), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e logEntry
		if json.Unmarshal([]byte(line), &e) != nil || e.str("msg") != msg {
			continue
		}
		ok := true
		for k, v := range match {
			ok = ok && e.str(k) == v
		}
		if ok {
			out = append(out, e)
		}
	}
	return out
}

// waitEntries waits up to timeout for at least n such lines.
func waitEntries(p *harness.Process, mark int, msg string, match map[string]string, n int, timeout time.Duration) []logEntry {
	deadline := time.Now().Add(timeout)
	for {
		got := entries(p, mark, msg, match)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startJSONDcfw starts dcfw scoped to this run, logging JSON, with its
// status socket in the test's own directory.
func startJSONDcfw(t *testing.T, h *harness.Harness, args ...string) (*harness.Process, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "status.sock")
	p := startDcfw(h, append([]string{"--log-format", "json", "--status-socket", sock}, args...)...)
	return p, sock
}

func waitProtectedJSON(t *testing.T, p *harness.Process, c *harness.Container) {
	t.Helper()
	if got := waitEntries(p, 0, "protection applied", map[string]string{"container": c.Name}, 1, protectTimeout); len(got) == 0 {
		t.Fatalf("%s not protected within %s:\n%s", c.Name, protectTimeout, harness.Indent(p.Log()))
	}
}

// A blocked connect is one line, with every field right, written while
// the connect still waited for an answer (under a second); a `log` rule's
// match is a line naming the rule and its comment. Neither needs
// nf_log_all_netns, which stays as it was.
func TestDropLogBlockedConnect(t *testing.T) {
	checkSysctlUntouched(t)
	h := harness.Setup(t)
	n := h.Bridge()
	web := h.RunContainer(harness.ContainerSpec{Name: "web", Network: n, Cmd: harness.Serve(80, 81),
		Labels: labels("dcfw.enable=true", `dcfw.input.rule.1=allow log proto tcp to any port 80 comment "web site"`)})
	cli := h.RunContainer(harness.ContainerSpec{Name: "client", Network: n})
	checkAllPass(t, []flow{{cli, "tcp", web.Addr(n, 81), true, "before dcfw"}})

	p, _ := startJSONDcfw(t, h)
	waitProtectedJSON(t, p, web)
	mark := p.Mark()

	// 800 ms: less than TCP's first retransmission (1 s), so one SYN.
	before := time.Now()
	if got := cli.ConnectWithin("tcp", web.Addr(n, 81), 800*time.Millisecond); !got.Blocked() {
		t.Fatalf("connect to port 81: %v, want it blocked", got)
	}
	returned := time.Now()
	match := map[string]string{"container": web.Name, "dst": web.IP(n).String(), "dport": "81"}
	lines := waitEntries(p, mark, "packet blocked", match, 1, time.Second)
	if len(lines) == 0 {
		t.Fatalf("no 'packet blocked' line within 1 s of the connect's end:\n%s", harness.Indent(p.LogSince(mark)))
	}
	l := lines[0]
	for k, want := range map[string]string{
		"level": "info", "id": web.ID[:12], "direction": "in", "verdict": "deny", "rule": "dcfw.input.policy",
		"proto": "tcp", "src": cli.IP(n).String(), "iface": "eth0",
	} {
		if got := l.str(k); got != want {
			t.Errorf("field %s = %q, want %q; line %v", k, got, want, l)
		}
	}
	if sport, err := strconv.Atoi(l.str("sport")); err != nil || sport < 1024 {
		t.Errorf("sport %q: want the client's ephemeral port", l.str("sport"))
	}
	// The line was written while the connect still waited, so within its
	// 800 ms of the SYN (log stamps are milliseconds).
	if ts := l.time(t); ts.Before(before.Truncate(time.Millisecond)) || ts.After(returned) {
		t.Errorf("line written at %s, the connect ran from %s to %s", ts.Format(time.StampMilli), before.Format(time.StampMilli), returned.Format(time.StampMilli))
	}
	// Exactly one: nothing more comes for the same packet.
	time.Sleep(1500 * time.Millisecond)
	if got := entries(p, mark, "packet blocked", match); len(got) != 1 {
		t.Errorf("%d lines for one blocked connect, want 1: %v", len(got), got)
	}

	// The log rule: an allowed connect, logged, naming the label and its
	// comment.
	mark = p.Mark()
	if got := cli.Connect("tcp", web.Addr(n, 80)); !got.Passed() {
		t.Fatalf("connect to port 80: %v, want it allowed", got)
	}
	match = map[string]string{"container": web.Name, "dst": web.IP(n).String(), "dport": "80"}
	lines = waitEntries(p, mark, "packet logged", match, 1, time.Second)
	if len(lines) != 1 {
		t.Fatalf("%d 'packet logged' lines for the log rule, want 1:\n%s", len(lines), harness.Indent(p.LogSince(mark)))
	}
	for k, want := range map[string]string{"verdict": "allow", "rule": "dcfw.input.rule.1", "comment": "web site", "direction": "in", "src": cli.IP(n).String()} {
		if got := lines[0].str(k); got != want {
			t.Errorf("log rule line: %s = %q, want %q; line %v", k, got, want, lines[0])
		}
	}
}

// 50 blocked connects at once: five deny rules with `log` share them (ten
// each, each rule's kernel burst), so 50 records reach dcfw, which writes
// at most its cap per container per minute (30) and says in one summary
// line how many it held back, per rule.
func TestDropLogFloodStaysWithinCaps(t *testing.T) {
	checkSysctlUntouched(t)
	h := harness.Setup(t)
	n := h.Bridge()
	lbls := labels("dcfw.enable=true")
	for r := range 5 {
		lbls[fmt.Sprintf("dcfw.input.rule.%d", r+1)] = fmt.Sprintf("deny log proto tcp to any port %d-%d comment flood", 1000+10*r, 1009+10*r)
	}
	web := h.RunContainer(harness.ContainerSpec{Name: "web", Network: n, Cmd: harness.Serve(80), Labels: lbls})
	cli := h.RunContainer(harness.ContainerSpec{Name: "client", Network: n})
	checkAllPass(t, []flow{{cli, "tcp", web.Addr(n, 80), true, "before dcfw"}})

	p, _ := startJSONDcfw(t, h)
	waitProtectedJSON(t, p, web)
	mark := p.Mark()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, report, err := cli.TryConnect("tcp", web.Addr(n, 1000+i), 500*time.Millisecond)
			if err == nil && !o.Blocked() {
				err = fmt.Errorf("port %d: %v (%s), want it blocked", 1000+i, o, report)
			}
			if err != nil {
				errs <- err
			}
		}()
		if i%10 == 9 {
			wg.Wait()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	flood := map[string]string{"container": web.Name, "dst": web.IP(n).String(), "comment": "flood"}
	// The summary comes when the minute that held lines back is over.
	sums := waitEntries(p, mark, "packet lines suppressed", map[string]string{"container": web.Name}, 1, 90*time.Second)
	lines := entries(p, mark, "packet blocked", flood)
	t.Logf("%d lines, summaries %v, after %s", len(lines), sums, time.Since(start).Round(time.Second))
	if len(lines) == 0 || len(lines) > 30 {
		t.Errorf("%d lines for the flood, want between 1 and the cap of 30", len(lines))
	}
	if len(sums) != 1 {
		t.Fatalf("%d summary lines, want 1:\n%s", len(sums), harness.Indent(p.LogSince(mark)))
	}
	held := 0
	for _, f := range strings.Fields(sums[0].str("rules")) {
		rule, v, _ := strings.Cut(f, "=")
		c, err := strconv.Atoi(v)
		if err != nil || !strings.HasPrefix(rule, "dcfw.input.rule.") {
			t.Errorf("summary rules %q: want dcfw.input.rule.N=COUNT", sums[0].str("rules"))
		}
		held += c
	}
	if sums[0].str("level") != "warn" || sums[0].str("lines") != strconv.Itoa(held) {
		t.Errorf("summary %v: want level warn and lines = the sum per rule (%d)", sums[0], held)
	}
	// Every connect was one record (each rule's burst is 10): what was
	// written and what was held back add up to the flood.
	if len(lines)+held != 50 {
		t.Errorf("%d lines + %d held back, want the 50 connects", len(lines), held)
	}
}

// `dcfw status --json` lists every managed container with its policies,
// the path that protected it, the live table compared with its labels,
// and its blocked packets; a table changed behind dcfw's back shows as
// such until dcfw repairs it.
func TestDropLogStatusAgreesWithLiveTables(t *testing.T) {
	h := harness.Setup(t)
	n := h.Bridge()
	web := h.RunContainer(harness.ContainerSpec{Name: "web", Network: n, Cmd: harness.Serve(80, 81),
		Labels: labels("dcfw.enable=true", "dcfw.input.rule.1=allow proto tcp to any port 80", "dcfw.output.policy=deny")})
	broken := h.RunContainer(harness.ContainerSpec{Name: "broken", Network: n, Cmd: harness.Serve(80),
		Labels: labels("dcfw.enable=true", "dcfw.input.rule.1=allow frm 10.0.0.1")})
	cli := h.RunContainer(harness.ContainerSpec{Name: "client", Network: n})

	// A long interval: the tampering below stays until the test is done.
	p, sock := startJSONDcfw(t, h, "--interval", "1h")
	waitProtectedJSON(t, p, web)
	waitProtectedJSON(t, p, broken)
	if got := cli.ConnectWithin("tcp", web.Addr(n, 81), 500*time.Millisecond); !got.Blocked() {
		t.Fatalf("connect to port 81: %v, want it blocked", got)
	}
	waitEntries(p, 0, "packet blocked", map[string]string{"container": web.Name, "dport": "81"}, 1, time.Second)

	st := dcfwStatus(t, h, sock)
	byName := map[string]reconcile.ContainerStatus{}
	for _, c := range st.Containers {
		byName[c.Name] = c
	}
	if st.LogBlocked != "dcfw" || len(st.Containers) != 2 {
		t.Fatalf("status: %+v, want web and broken", st)
	}
	w, b := byName[web.Name], byName[broken.Name]
	if w.ID != web.ID[:12] || w.Mode != reconcile.ModePolicy || w.Input != "deny" || w.InputRules != 1 || w.Output != "deny" ||
		w.OutputRules != 0 || w.Live != reconcile.LiveEqual || w.Blocked == nil || *w.Blocked < 1 || (w.Path != "sandbox" && w.Path != "pid") {
		t.Errorf("web: %+v", w)
	}
	if b.Mode != reconcile.ModeLockdown || b.Input != "lockdown" || b.Live != reconcile.LiveEqual {
		t.Errorf("broken: %+v", b)
	}
	for _, c := range []*harness.Container{web, broken} {
		expectTable(t, c) // what status calls equal is there
	}

	// Tampering: the rules of web's output chain flushed from inside its namespace.
	if out, err := web.Nft("flush", "chain", "inet", "dcfw", "output"); err != nil {
		t.Fatalf("tamper: %v %s", err, out)
	}
	st = dcfwStatus(t, h, sock)
	for _, c := range st.Containers {
		switch {
		case c.Name == web.Name && (c.Live != reconcile.LiveDiffers || len(c.Differences) == 0):
			t.Errorf("web after its output chain was flushed: %+v, want live differs", c)
		case c.Name == broken.Name && c.Live != reconcile.LiveEqual:
			t.Errorf("broken, untouched: %+v", c)
		}
	}
}

// dcfwStatus runs `dcfw status --json` against the daemon's socket.
func dcfwStatus(t *testing.T, h *harness.Harness, sock string) reconcile.Status {
	t.Helper()
	p := h.StartProcess(nil, h.DcfwBinary(), "status", "--json", "--status-socket", sock)
	if code := p.Wait(time.Minute); code != 0 {
		t.Fatalf("dcfw status: exit %d\n%s", code, harness.Indent(p.Log()))
	}
	var st reconcile.Status
	if err := json.Unmarshal([]byte(p.Log()), &st); err != nil {
		t.Fatalf("dcfw status --json: %v\n%s", err, harness.Indent(p.Log()))
	}
	return st
}
