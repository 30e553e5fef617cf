package e2e

// The soak test: dcfw runs while containers with random labels come and go
// for a while, and its process must end as it began: memory flat, no
// descriptors or threads piling up, no network namespace kept alive; the
// containers still running hold exactly the tables their labels describe.
//
//	go test ./e2e -run '^TestSoak$' -count=1 -v                                # ~50 s
//	DCFW_SOAK=10m go test ./e2e -run '^TestSoak$' -count=1 -v -timeout 30m   # the full soak
//
// DCFW_SOAK_SEED repeats a run's label choices (the seed is logged);
// DCFW_SOAK_LOG names a file for dcfw's whole (debug) log.

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/bench"
	"github.com/dcfw/dcfw/internal/harness"
	"github.com/dcfw/dcfw/internal/testenv"
	dcfwlabels "github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nft"
)

const (
	// soakDefault is the soak's length without DCFW_SOAK: short enough to
	// run in every CI run.
	soakDefault = 50 * time.Second
	// soakMaxRunning and soakMaxExisting bound the containers alive at a
	// time (running; created or stopped too).
	soakMaxRunning  = 6
	soakMaxExisting = 8
	// soakSurvivors is how many containers run on to the end, where their
	// tables are compared with their labels.
	soakSurvivors = 3
	// soakLabel marks the soak's containers, so that cleanup finds every
	// one, tracked or not. Not like "dcfw-…", which dcfw warns about as
	// a near miss of its own labels.
	soakLabel = "e2e-soak.run"
	// soakMatchTimeout bounds the wait for a running container's table to
	// equal its labels' (a container may have started a moment ago).
	soakMatchTimeout = 15 * time.Second
)

// What dcfw's process may do over a soak. Generous: they catch a leak that
// grows with the containers seen (thousands in a long soak), not the Go
// runtime's warm-up.
const (
	soakMaxRSSGrowthKB = 30 << 10
	soakMaxRSSKB       = 100 << 10
	soakFDSlack        = 5 // idle engine connections come and go
	soakMaxThreadGrow  = 16
)

func TestSoak(t *testing.T) {
	dur := soakDefault
	if s := os.Getenv("DCFW_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("DCFW_SOAK=%q: want a duration such as 10m", s)
		}
		dur = d
	}
	// The end (survivors, removal, waits) takes up to a few minutes.
	if dl, ok := t.Deadline(); ok && time.Until(dl) < dur+3*time.Minute {
		t.Fatalf("DCFW_SOAK=%s does not fit in go test's -timeout (%s left): give -timeout %s", dur, time.Until(dl).Round(time.Second), (dur + 5*time.Minute).Round(time.Minute))
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("DCFW_SOAK_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("DCFW_SOAK_SEED=%q: %v", s, err)
		}
	}
	t.Logf("soak for %s, seed %d (DCFW_SOAK_SEED=%d repeats its labels)", dur, seed, seed)

	h := harness.Setup(t)
	s := &soak{t: t, h: h, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), net: h.Bridge(),
		sandboxes: map[string]string{}, actions: map[string]int{}, kinds: map[string]int{}}
	for i := 2; i <= 63; i++ {
		s.freeHosts = append(s.freeHosts, i)
	}
	// Registered after the network and before dcfw: runs before dcfw stops
	// and before the network goes, and finds every soak container, also
	// one this code lost track of when it failed.
	t.Cleanup(s.removeAll)

	s.home = homeNetNS(t)
	s.dcfw = startDcfw(h)
	if path := os.Getenv("DCFW_SOAK_LOG"); path != "" {
		// Also when the soak fails half-way.
		t.Cleanup(func() {
			if err := os.WriteFile(path, []byte(s.dcfw.Log()), 0o644); err != nil {
				t.Errorf("DCFW_SOAK_LOG: %v", err)
			}
		})
	}
	s.dcfw.WaitForLog(`INFO\s+initial reconcile`, protectTimeout)
	pid := s.dcfw.PID()
	start := s.sample(pid)
	peak, warm := start, procStats{}
	t.Logf("dcfw (pid %d) after its first reconcile: %s", pid, start)

	began := time.Now()
	every := min(max(dur/20, 5*time.Second), 30*time.Second)
	nextSample := began.Add(every)
	for step := 0; time.Since(began) < dur; step++ {
		s.step()
		if step%5 == 4 {
			s.checkOneRunning()
		}
		if time.Now().After(nextSample) {
			st := s.sample(pid)
			peak = peak.max(st)
			if warm.rssKB == 0 && time.Since(began) >= dur/10 {
				warm = st
			}
			t.Logf("soak %s: %d cycles, %d running: %s", time.Since(began).Round(time.Second), s.cycles, len(s.running()), st)
			nextSample = time.Now().Add(every)
		}
	}
	elapsed := time.Since(began)

	// The end: a few containers run on, each must hold exactly its table.
	for _, c := range slices.Clone(s.live) {
		if !c.running {
			s.remove(c)
		}
	}
	for len(s.running()) > soakSurvivors {
		s.remove(s.running()[0])
	}
	for len(s.running()) < soakSurvivors {
		s.startNew(s.randomLabels())
	}
	survivors := s.running()
	for _, c := range survivors {
		s.expectTableMatches(c, protectTimeout)
	}
	peak = peak.max(s.sample(pid))
	for _, c := range survivors {
		s.remove(c)
	}

	// After an interval or two with none of them left, dcfw must hold
	// nothing of theirs.
	var end procStats
	deadline := time.Now().Add(10 * dcfwInterval)
	for {
		time.Sleep(2 * dcfwInterval)
		end = s.sample(pid)
		if end.nsFDs == 0 && end.foreignTasks == 0 || time.Now().After(deadline) {
			break
		}
	}
	peak = peak.max(end)
	if s.dcfw.Exited() {
		t.Fatalf("dcfw exited during the soak")
	}

	var leftFiles []string
	for file, id := range s.sandboxes {
		if _, err := os.Stat(file); err == nil {
			leftFiles = append(leftFiles, fmt.Sprintf("%s (container %.12s)", file, id))
		}
	}

	t.Logf("SOAK: %d cycles in %s, containers %d (≤%d running at a time, seed %d), rss %s→%s→%s (VmHWM %s), fds %d→%d, threads %d→%d (peak %d), ns fds end %d, sandbox files left %d of %d",
		s.cycles, elapsed.Round(time.Second), s.created, soakMaxRunning, seed,
		mb(start.rssKB), mb(peak.rssKB), mb(end.rssKB), mb(end.hwmKB), start.fds, end.fds, start.threads, end.threads, peak.threads, end.nsFDs,
		len(leftFiles), len(s.sandboxes))
	if warm.rssKB != 0 {
		t.Logf("after warm-up (%s in): %s", dur/10, warm)
	}
	t.Logf("actions: %v; labels: %v", s.actions, s.kinds)
	logSummary(t, s.dcfw.Log())

	if end.rssKB > start.rssKB+soakMaxRSSGrowthKB || end.rssKB > soakMaxRSSKB {
		t.Errorf("dcfw's resident memory grew from %s to %s (at most %s more, %s in all)", mb(start.rssKB), mb(end.rssKB), mb(soakMaxRSSGrowthKB), mb(soakMaxRSSKB))
	}
	if d := end.fds - start.fds; d > soakFDSlack || d < -soakFDSlack {
		t.Errorf("dcfw has %d open descriptors at the end, %d at the start:\n%s", end.fds, start.fds, strings.Join(end.fdLinks, "\n"))
	}
	if end.threads > start.threads+soakMaxThreadGrow {
		t.Errorf("dcfw has %d threads at the end, %d at the start", end.threads, start.threads)
	}
	if end.nsFDs != 0 {
		t.Errorf("dcfw holds %d descriptors of network namespaces other than the host's after every container is gone:\n%s", end.nsFDs, strings.Join(end.fdLinks, "\n"))
	}
	if end.foreignTasks != 0 {
		t.Errorf("%d of dcfw's threads are in a network namespace other than the host's after every container is gone", end.foreignTasks)
	}
	if len(leftFiles) > 0 {
		// Not dcfw's doing (it holds none of their namespaces, checked
		// above): Docker 20.10's libnetwork removes the files of removed
		// sandboxes in a garbage collection about once a minute.
		t.Logf("sandbox files of removed containers still there (the engine removes them itself, later on Docker 20.10): %d", len(leftFiles))
	}
}

// soak is the state of one soak run; all of it is used from the test's
// goroutine only.
type soak struct {
	t    *testing.T
	h    *harness.Harness
	rng  *rand.Rand
	net  *harness.Network
	dcfw *harness.Process
	home string // the test's network namespace, and dcfw's

	live      []*soakContainer
	freeHosts []int             // host numbers of net not in use
	sandboxes map[string]string // sandbox file of every start → container ID
	created   int
	cycles    int // containers created and removed again
	actions   map[string]int
	kinds     map[string]int
}

type soakContainer struct {
	*harness.Container
	labels  map[string]string
	host    int // on net; 0 for network mode none
	running bool
	started time.Time
}

func (s *soak) running() []*soakContainer {
	var r []*soakContainer
	for _, c := range s.live {
		if c.running {
			r = append(r, c)
		}
	}
	return r
}

// step does one random thing: a new container (started, or stopped while
// it starts), or a stop, start, restart or removal of one that exists.
func (s *soak) step() {
	running := s.running()
	grow := len(s.live) < soakMaxExisting && len(running) < soakMaxRunning &&
		(len(running) < 2 || s.rng.IntN(2) == 0)
	if grow || len(s.live) == 0 {
		if s.rng.IntN(5) == 0 {
			s.startAndAbort(s.randomLabels())
		} else {
			s.startNew(s.randomLabels())
		}
		return
	}
	c := s.live[s.rng.IntN(len(s.live))]
	switch r := s.rng.IntN(10); {
	case !c.running && r < 5:
		s.actions["start again"]++
		s.start(c)
	case !c.running:
		s.remove(c)
	case r < 4:
		s.remove(c) // running: forcibly
	case r < 6:
		s.actions["stop"]++
		c.Stop()
		c.running = false
	case r < 8:
		s.actions["restart"]++
		c.Restart()
		s.noteStarted(c)
	default:
		s.actions["kill"]++
		c.Kill()
		c.WaitExit(harness.ReadyTimeout)
		c.running = false
	}
}

// create creates a sleeping container with labels l (and the run's and the
// soak's), on net or, now and then, on no network at all.
func (s *soak) create(l map[string]string) *soakContainer {
	s.t.Helper()
	spec := harness.ContainerSpec{Name: "soak", Cmd: harness.Sleep(), Labels: l}
	c := &soakContainer{labels: l}
	if s.rng.IntN(8) == 0 || len(s.freeHosts) == 0 {
		spec.NetworkMode = "none"
	} else {
		c.host = s.freeHosts[0]
		s.freeHosts = s.freeHosts[1:]
		spec.Network, spec.IPv4 = s.net, s.net.Addr(c.host)
	}
	all := map[string]string{soakLabel: s.h.RunID()}
	for k, v := range l {
		all[k] = v
	}
	spec.Labels = all
	c.Container = s.h.CreateContainerNoCleanup(spec)
	s.created++
	s.live = append(s.live, c)
	return c
}

func (s *soak) startNew(l map[string]string) {
	s.t.Helper()
	s.actions["create+start"]++
	s.start(s.create(l))
}

func (s *soak) start(c *soakContainer) {
	s.t.Helper()
	c.Start()
	s.noteStarted(c)
}

// noteStarted records a (re)start: each start has a new sandbox file.
func (s *soak) noteStarted(c *soakContainer) {
	s.t.Helper()
	c.running, c.started = true, time.Now()
	if ns := c.Inspect().NetworkSettings; ns != nil && ns.SandboxKey != "" {
		s.sandboxes[ns.SandboxKey] = c.ID
	}
}

// startAndAbort starts a new container and kills or removes it while the
// engine may still be starting it. What the engine says to the racing
// calls does not matter; the container is gone at the end either way.
func (s *soak) startAndAbort(l map[string]string) {
	s.t.Helper()
	c := s.create(l)
	started := make(chan error, 1)
	go func() { started <- c.TryStart() }()
	time.Sleep(time.Duration(s.rng.IntN(100)) * time.Millisecond)
	ctx, cancel := s.h.Ctx()
	defer cancel()
	if s.rng.IntN(2) == 0 {
		s.actions["start+kill at once"]++
		_, _ = s.h.Docker().ContainerKill(ctx, c.ID, client.ContainerKillOptions{Signal: "KILL"})
	} else {
		s.actions["start+remove at once"]++
		_, _ = s.h.Docker().ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true})
	}
	<-started
	if res, err := s.h.Docker().ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{}); err == nil {
		if ns := res.Container.NetworkSettings; ns != nil && ns.SandboxKey != "" {
			s.sandboxes[ns.SandboxKey] = c.ID
		}
	}
	s.remove(c)
}

// remove removes c (forcibly, running or not) and forgets it.
func (s *soak) remove(c *soakContainer) {
	s.t.Helper()
	c.Remove()
	if c.running {
		s.actions["remove running"]++
	} else {
		s.actions["remove"]++
	}
	c.running = false
	if c.host != 0 {
		s.freeHosts = append(s.freeHosts, c.host)
	}
	for i, o := range s.live {
		if o == c {
			s.live = append(s.live[:i], s.live[i+1:]...)
			break
		}
	}
	s.cycles++
}

// removeAll removes every soak container of this run, including any the
// soak lost track of when it failed.
func (s *soak) removeAll() {
	ctx, cancel := s.h.Ctx()
	defer cancel()
	filter := make(client.Filters).Add("label", soakLabel+"="+s.h.RunID())
	cs, err := s.h.Docker().ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		s.t.Errorf("list the soak's containers: %v", err)
		return
	}
	for _, c := range cs.Items {
		if _, err := s.h.Docker().ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !harness.IsNotFound(err) {
			s.t.Errorf("remove container %.12s: %v", c.ID, err)
		}
	}
}

// checkOneRunning compares the table of a container that has run for a
// few intervals with its labels.
func (s *soak) checkOneRunning() {
	s.t.Helper()
	var ready []*soakContainer
	for _, c := range s.running() {
		if time.Since(c.started) > 2*dcfwInterval {
			ready = append(ready, c)
		}
	}
	if len(ready) > 0 {
		s.expectTableMatches(ready[s.rng.IntN(len(ready))], soakMatchTimeout)
	}
}

// expectTableMatches waits until c's namespace holds exactly what its
// labels ask for, and reports the difference if it does not in time.
func (s *soak) expectTableMatches(c *soakContainer, timeout time.Duration) {
	s.t.Helper()
	s.actions["table checked"]++
	want, wantOK := soakExpected(c.labels, c.ID)
	deadline := time.Now().Add(timeout)
	for {
		got, ok := c.NftTable()
		if got == want && ok == wantOK {
			return
		}
		if time.Now().After(deadline) {
			switch {
			case !wantOK:
				s.t.Errorf("%s (labels %s): has a dcfw table, want none:\n%s", c.Name, describeLabels(c.labels), got)
			case !ok:
				s.t.Errorf("%s (labels %s): no dcfw table, want:\n%s", c.Name, describeLabels(c.labels), want)
			default:
				s.t.Errorf("%s (labels %s): the table differs from its labels':\n%s", c.Name, describeLabels(c.labels), lineDiff(want, got))
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// soakExpected is what dcfw must have made of labels l of the container id
// (whether a table exists, and then its rendering): expectedTable, plus
// the cases without a table and a policy the compiler refuses (locked
// down, like label errors). Only `table inet dcfw`, the table NftTable
// lists (inetTable).
func soakExpected(l map[string]string, id string) (string, bool) {
	policy, err := dcfwlabels.Parse(l)
	if err != nil {
		return inetTable(nft.Lockdown(id)), true
	}
	if policy.State != dcfwlabels.Enabled {
		return "", false
	}
	tbl, err := nft.Compile(policy, id)
	if err != nil {
		return inetTable(nft.Lockdown(id)), true
	}
	return inetTable(tbl), true
}

// describeLabels shows labels for an error message, long values cut.
func describeLabels(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		v := l[k]
		if len(v) > 80 {
			v = fmt.Sprintf("%.60s… (%d bytes)", v, len(v))
		}
		parts = append(parts, fmt.Sprintf("%s=%q", k, v))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// soakRules are rules of several shapes, valid, for random policies.
var soakRules = []string{
	"allow proto tcp to any port 80",
	"allow proto tcp from 10.231.0.0/16,192.0.2.0/24 port 1024-65535 to any port 80,443,8080-8090",
	"deny log proto udp from 198.51.100.7",
	`reject proto tcp to 203.0.113.0/24 port 22 comment "no ssh"`,
	"allow proto icmp",
	"allow on eth0 proto tcp from fd00:dcf::/48,2001:db8::1 to any port 8443",
	"allow proto tcp to 192.0.2.1,192.0.2.2,198.51.100.0/24 port 53,853",
	"allow to any port 5353",
	"deny proto icmpv6 to 2001:db8::/32",
	"allow log on eth* proto sctp to 10.231.9.9 comment soak",
}

// soakBadRules cannot be parsed: the container is locked down.
var soakBadRules = []string{
	"allow proto tcp frm 10.0.0.1",
	"allow proto tcp to 10.0.0.300",
	"allow proto icmp to any port 80",
	"allow proto tcp to 10.0.0.1, 10.0.0.2",
	"permit proto tcp",
	"allow proto tcp from 10.0.0.1 to 2001:db8::1",
}

// randomLabels picks a kind of label set and makes one; s.kinds counts the
// kinds.
func (s *soak) randomLabels() map[string]string {
	kinds := []struct {
		name   string
		weight int
		make   func() map[string]string
	}{
		{"valid", 8, s.validPolicy},
		{"bad rule", 2, func() map[string]string {
			l := s.validPolicy()
			l[s.ruleKey()] = pick(s.rng, soakBadRules)
			return l
		}},
		{"unknown key", 1, func() map[string]string {
			l := s.validPolicy()
			l[pick(s.rng, []string{"dcfw.output.polcy", "DCFW.input.policy", "dcfw.input.rules.1", "dcfw.mode"})] = "deny"
			return l
		}},
		{"bad value", 1, func() map[string]string {
			l := s.validPolicy()
			if s.rng.IntN(2) == 0 {
				l["dcfw.enable"] = "maybe"
			} else {
				l["dcfw.input.policy"] = "drop"
			}
			return l
		}},
		{"duplicate rule number", 1, func() map[string]string {
			return labels("dcfw.enable=true", "dcfw.input.rule.1=allow proto tcp to any port 1", "dcfw.input.rule.01=allow proto tcp to any port 2")
		}},
		{"disabled", 2, func() map[string]string {
			l := s.validPolicy()
			l["dcfw.enable"] = pick(s.rng, []string{"false", "no", "OFF", "0"})
			return l
		}},
		{"unlabelled", 2, func() map[string]string { return map[string]string{} }},
		{"near miss", 1, func() map[string]string {
			return map[string]string{pick(s.rng, []string{"DCFW.enable", "dcfw-enable", "dcfw_enable"}): "true", "dcfw-output.policy": "deny"}
		}},
		{"big value", 1, s.bigPolicy},
		{"too long value", 1, func() map[string]string {
			l := s.validPolicy()
			l[s.ruleKey()] = "allow proto tcp to any port 80 comment " + strings.Repeat("x", dcfwlabels.MaxValueLen)
			return l
		}},
	}
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	r := s.rng.IntN(total)
	for _, k := range kinds {
		if r < k.weight {
			s.kinds[k.name]++
			return k.make()
		}
		r -= k.weight
	}
	panic("unreachable")
}

// validPolicy is dcfw.enable=true with random policies (or the defaults)
// and up to three rules per direction.
func (s *soak) validPolicy() map[string]string {
	l := map[string]string{"dcfw.enable": pick(s.rng, []string{"true", "yes", "1", "True"})}
	for _, dir := range []string{"input", "output"} {
		if p := pick(s.rng, []string{"", "allow", "deny", "reject", "DENY"}); p != "" {
			l["dcfw."+dir+".policy"] = p
		}
		for i := range s.rng.IntN(4) {
			l[fmt.Sprintf("dcfw.%s.rule.%d", dir, 10*(i+1))] = pick(s.rng, soakRules)
		}
	}
	return l
}

// ruleKey is a rule key no validPolicy uses.
func (s *soak) ruleKey() string {
	return fmt.Sprintf("dcfw.%s.rule.%d", pick(s.rng, []string{"input", "output"}), 7)
}

// bigPolicy has one rule of exactly labels.MaxValueLen bytes: a long
// address list, a comment, and white space between the clauses.
func (s *soak) bigPolicy() map[string]string {
	var addrs []string
	for i := range 100 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{10, 99, byte(i / 10), byte(1 + 2*i)}).String())
	}
	head := "allow proto tcp to " + strings.Join(addrs, ",")
	tail := `comment "` + strings.Repeat("big ", 30) + `"`
	v := head + strings.Repeat(" ", dcfwlabels.MaxValueLen-len(head)-len(tail)) + tail
	l := labels("dcfw.enable=true", "dcfw.input.policy=deny", "dcfw.output.policy=deny")
	l["dcfw.output.rule.1"] = v
	if _, err := dcfwlabels.Parse(l); err != nil || len(v) != dcfwlabels.MaxValueLen {
		s.t.Fatalf("the big policy (%d bytes) is not valid: %v", len(v), err)
	}
	return l
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// procStats is what /proc says about a process.
type procStats struct {
	rssKB, hwmKB int64 // VmRSS, VmHWM
	threads      int
	fds          int
	nsFDs        int // descriptors of network namespaces other than home
	foreignTasks int // threads in a network namespace other than home
	fdLinks      []string
}

func (p procStats) String() string {
	return fmt.Sprintf("rss %s (hwm %s), threads %d, fds %d, ns fds %d, threads in other namespaces %d",
		mb(p.rssKB), mb(p.hwmKB), p.threads, p.fds, p.nsFDs, p.foreignTasks)
}

// max is the larger of each figure.
func (p procStats) max(o procStats) procStats {
	p.rssKB, p.hwmKB = max(p.rssKB, o.rssKB), max(p.hwmKB, o.hwmKB)
	p.threads, p.fds = max(p.threads, o.threads), max(p.fds, o.fds)
	p.nsFDs, p.foreignTasks = max(p.nsFDs, o.nsFDs), max(p.foreignTasks, o.foreignTasks)
	return p
}

func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

func (s *soak) sample(pid int) procStats {
	s.t.Helper()
	st, err := readProcStats(pid, s.home)
	if err != nil {
		s.t.Fatalf("read /proc of dcfw: %v", err)
	}
	return st
}

// homeNetNS names the network namespace of the test (the host's), where
// dcfw runs and where each of its threads must be between its visits to
// containers. Not dcfw's /proc/PID/ns/net: that is its main thread's,
// which could itself be the one that stayed in a container's namespace.
func homeNetNS(t *testing.T) string {
	t.Helper()
	home, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return home
}

// readProcStats reads memory (bench.ReadMemory) and the threads, and looks
// at every descriptor and thread for network namespaces other than home.
// Descriptors and threads that go away while it looks are not counted.
func readProcStats(pid int, home string) (procStats, error) {
	var st procStats
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	mem, err := bench.ReadMemory(pid)
	if err != nil {
		return st, err
	}
	st.rssKB, st.hwmKB = mem.RSS>>10, mem.HWM>>10
	tasks, err := os.ReadDir(filepath.Join(dir, "task"))
	if err != nil {
		return st, err
	}
	st.threads = len(tasks)
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return st, err
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return st, err
		}
		st.fds++
		st.fdLinks = append(st.fdLinks, fd.Name()+" -> "+link)
		if strings.HasPrefix(link, "net:[") && link != home {
			st.nsFDs++
		}
	}
	for _, task := range tasks {
		link, err := os.Readlink(filepath.Join(dir, "task", task.Name(), "ns", "net"))
		if err == nil && link != home {
			st.foreignTasks++
		}
	}
	return st, nil
}

// logSummary counts dcfw's log lines by level and by some messages worth
// a look, with the first line of each message as an example. Informative
// only: which of them a soak brings about depends on the engine's timing.
func logSummary(t *testing.T, log string) {
	t.Helper()
	var levels []string
	for _, lvl := range []string{"DEBUG", "INFO", "WARN", "ERROR"} {
		levels = append(levels, fmt.Sprintf("%s %d", lvl, strings.Count(log, "\t"+lvl+"\t")))
	}
	t.Logf("dcfw's log lines: %s", strings.Join(levels, ", "))
	for _, msg := range []string{"protection applied", "protection changed", "drift repaired", "not the container's", "panic"} {
		n := strings.Count(log, msg)
		if n == 0 {
			continue
		}
		i := strings.Index(log, msg)
		line := log[strings.LastIndexByte(log[:i], '\n')+1:]
		line, _, _ = strings.Cut(line, "\n")
		t.Logf("  %q %d times, e.g. %s", msg, n, line)
	}
}

// TestSoakProcStats checks the soak's own eyes, without the engine: a
// descriptor of another network namespace and a thread that entered one
// are seen (in this process), and go unseen once closed and left.
func TestSoakProcStats(t *testing.T) {
	testenv.RequireNetAdmin(t)
	other := exec.Command("unshare", "--net", "sleep", "60")
	if err := other.Start(); err != nil {
		testenv.SkipOrFail(t, "needs unshare (util-linux): "+err.Error())
	}
	t.Cleanup(func() {
		other.Process.Kill()
		other.Wait()
	})
	self := os.Getpid()
	home := homeNetNS(t)
	before := readOrFail(t, self, home)
	if before.nsFDs != 0 || before.foreignTasks != 0 {
		t.Fatalf("before: %s", before)
	}
	// Once unshare has become sleep, its namespace is the new one.
	path := fmt.Sprintf("/proc/%d/ns/net", other.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", other.Process.Pid))
		if strings.HasSuffix(exe, "/sleep") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held another network namespace", path)
		}
		time.Sleep(10 * time.Millisecond)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := readOrFail(t, self, home); got.nsFDs != 1 || got.fds != before.fds+1 {
		t.Errorf("with a descriptor of another namespace open: %s; want 1 ns fd, %d fds", got, before.fds+1)
	}

	// A thread in the other namespace, as if a setns had not gone back;
	// it goes back after the look (a locked main thread is never ended).
	entered, leave, left := make(chan error), make(chan struct{}), make(chan error)
	go func() {
		runtime.LockOSThread()
		back, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			entered <- err
			return
		}
		defer back.Close()
		entered <- unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		<-leave
		err = unix.Setns(int(back.Fd()), unix.CLONE_NEWNET)
		if err == nil {
			runtime.UnlockOSThread()
		}
		left <- err
	}()
	if err := <-entered; err != nil {
		t.Fatalf("setns: %v", err)
	}
	if got := readOrFail(t, self, home); got.foreignTasks != 1 {
		t.Errorf("with a thread in another namespace: %s; want 1 such thread", got)
	}
	close(leave)
	if err := <-left; err != nil {
		t.Fatalf("setns back: %v", err)
	}
	f.Close()
	deadline = time.Now().Add(10 * time.Second)
	for {
		got := readOrFail(t, self, home)
		if got.nsFDs == 0 && got.foreignTasks == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing and leaving: %s", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readOrFail(t *testing.T, pid int, home string) procStats {
	t.Helper()
	st, err := readProcStats(pid, home)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
