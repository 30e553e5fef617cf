package bench_test

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/dcfw/dcfw/bench"
	"github.com/dcfw/dcfw/internal/harness"
)

// protectTimeout bounds the wait for dcfw's line about one container.
const protectTimeout = 30 * time.Second

// requireBench skips a benchmark unless DCFW_BENCH=1 (scripts/bench.sh sets
// it): the normal test run stays quick, and measures nothing.
func requireBench(t *testing.T) {
	t.Helper()
	if os.Getenv("DCFW_BENCH") != "1" {
		t.Skip("a benchmark: runs with DCFW_BENCH=1 (sudo bash scripts/bench.sh)")
	}
}

// TestBenchTimeToProtect is part 4 of the benchmarks (BENCHMARKS.md): how
// long a new container waits for its table, measured against the real
// engine (with internal/harness, as the e2e tests are written). It runs
// only with DCFW_BENCH=1:
//
//	DCFW_BENCH=1 go test ./bench -run '^TestBenchTimeToProtect$' -count=1 -v
//
// dcfw runs as a daemon (scoped to this run's containers, JSON logs). The
// test subscribes to the engine's events itself, then starts
// DCFW_BENCH_CONTAINERS (default 20) labelled containers one at a time,
// each after the previous one is protected, and as many again all at once.
// For each it takes the engine's timestamps of the container's start event
// and of its network connect event, the process's own start time (the test
// peer's first line), and the timestamp of dcfw's "protection applied" line
// about it (logged once the batch that created the table was acknowledged),
// and prints p50, p99 and max of the differences, with dcfw's own
// since_connect and path fields where its build logs them (the sandbox
// path: protection before the first packet). The only assertions are that
// every container gets its table: no timing is asserted.
func TestBenchTimeToProtect(t *testing.T) {
	requireBench(t)
	count := 20
	if s := os.Getenv("DCFW_BENCH_CONTAINERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("DCFW_BENCH_CONTAINERS=%q: want a positive number", s)
		}
		count = n
	}
	h := harness.Setup(t)
	net := h.Bridge()
	rec := h.RecordEvents(make(client.Filters).Add("type", "container", "network"), nil)
	p := h.StartDcfw(h.ScopedDcfwArgs("--log-format", "json", "--log-level", "info")...)
	p.WaitForLog(`"msg":"initial reconcile"`, protectTimeout)

	spec := func(name string) harness.ContainerSpec {
		return harness.ContainerSpec{Name: name, Network: net, Labels: bench.SteadyLabels()}
	}
	// protected waits for dcfw's line about c (logged after mark).
	protected := func(mark int, c *harness.Container) {
		t.Helper()
		p.WaitForLogSince(mark, `"msg":"protection applied".*"id":"`+regexp.QuoteMeta(c.ID[:12])+`"`, protectTimeout)
	}

	type run struct {
		name string
		mark int
		cs   []*harness.Container
	}
	var runs []run

	// One at a time: each container's figure is its own, not a queue's.
	one := run{name: "one at a time", mark: p.Mark()}
	for i := range count {
		c := h.CreateContainer(spec(fmt.Sprintf("ttp1-%d", i)))
		mark := p.Mark()
		c.Start()
		protected(mark, c)
		one.cs = append(one.cs, c)
		time.Sleep(100 * time.Millisecond) // let dcfw finish what the start brought
	}
	runs = append(runs, one)

	// All at once, as `docker compose up` starts a project.
	var burst []*harness.Container
	for i := range count {
		burst = append(burst, h.CreateContainer(spec(fmt.Sprintf("ttpN-%d", i))))
	}
	all := run{name: fmt.Sprintf("%d at once", count), mark: p.Mark(), cs: burst}
	h.StartAll(burst...)
	for _, c := range burst {
		protected(all.mark, c)
	}
	runs = append(runs, all)

	rows := map[string]bench.ProtectStats{}
	var order []string
	for _, r := range runs {
		lines := bench.ParseLog(p.LogSince(r.mark))
		var ps []bench.Protection
		for _, c := range r.cs {
			start := rec.WaitFor(protectTimeout, "start of "+c.Name, harness.IsEvent(events.ContainerEventType, events.ActionStart, c.ID))
			connect := rec.WaitFor(protectTimeout, "network connect of "+c.Name, harness.IsEvent(events.NetworkEventType, events.ActionConnect, c.ID))
			line, ok := bench.FindProtected(lines, c.ID, time.Time{})
			if !ok {
				t.Fatalf("no JSON \"protection applied\" line about %s (%.12s) in dcfw's log", c.Name, c.ID)
			}
			if _, ok := c.NftTable(); !ok {
				t.Errorf("%s: dcfw logged its protection, but its namespace has no dcfw table", c.Name)
			}
			ps = append(ps, bench.NewProtection(c.Name, start.At(), connect.At(), processStart(t, c), line))
		}
		rows[r.name] = bench.Summarize(ps)
		order = append(order, r.name)
	}

	tbl, err := bench.Table(bench.SteadyLabels(), "")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("\ntime-to-protect: %d containers per run, %d rules each, one bridge network; machine: %s\n",
		count, bench.RuleCount(tbl), bench.Machine())
	bench.PrintProtect(os.Stdout, rows, order)
	if m, err := bench.ReadMemory(p.PID()); err == nil {
		fmt.Printf("\ndcfw daemon after protecting %d containers: VmRSS %s, VmHWM %s\n", 2*count, bench.MB(m.RSS), bench.MB(m.HWM))
	}
}

// processStart is when the container's test peer process started, by its
// own first timestamp ("started sleep at=<RFC 3339> ...").
func processStart(t *testing.T, c *harness.Container) time.Time {
	t.Helper()
	line := c.WaitForLog(`^started sleep at=\S+`, harness.ReadyTimeout)
	at, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(line, "started sleep at="))
	if err != nil {
		t.Fatalf("%s: process start time in %q: %v", c.Name, line, err)
	}
	return at
}
