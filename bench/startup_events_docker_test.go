package bench_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/dcfw/dcfw/internal/harness"
	"github.com/dcfw/dcfw/netnsutil"
)

// dockerNetnsDir is where the engine keeps its sandboxes' namespaces.
const dockerNetnsDir = "/var/run/docker/netns"

// TestBenchStartupEvents is part 5 of the benchmarks (BENCHMARKS.md): it
// measures what the sandbox path (protection before the first packet)
// builds on: the engine's events around a container's start, and where the
// container's namespace and interface are from the moment of its `network
// connect` event until its process runs. An experiment, not a test: it
// runs only with DCFW_BENCH=1, and checks only what makes its figures
// meaningful (the events arrive, in order, naming the container). It
// prints a report per container, then a summary:
//
//	DCFW_BENCH=1 go test ./bench -run '^TestBenchStartupEvents$' -count=1 -v
//
// For each container, from the `network connect` event handler (before the
// next event is read) it records:
//   - whether `network inspect` already lists the endpoint (MAC, IP);
//   - the files under /var/run/docker/netns that are new since just before
//     the container was created, whether each is a namespace yet (and which),
//     and where the interface with the endpoint's MAC is (host namespace?);
//   - when a `container inspect` begun at that moment returns;
//
// then polls (every few ms) until the process has started: when the new
// file's namespace changes, when the MAC leaves the host namespace, when it
// shows up inside a sandbox file with its IP. Last, it compares the file's
// namespace at the connect event with the namespace the process runs in.
func TestBenchStartupEvents(t *testing.T) {
	requireBench(t)
	h := harness.Setup(t)
	bridge := h.Bridge()
	macvlan := h.Macvlan()

	var mu sync.Mutex
	traces := map[string]*startupTrace{} // by container ID
	lookup := func(id string) *startupTrace {
		mu.Lock()
		defer mu.Unlock()
		return traces[id]
	}
	filters := make(client.Filters).Add("type", "container", "network")
	rec := h.RecordEvents(filters, func(ev harness.Event) {
		if ev.Type != events.NetworkEventType || ev.Action != events.ActionConnect {
			return
		}
		if tr := lookup(ev.Actor.Attributes["container"]); tr != nil {
			tr.observeAtConnect(h, ev)
		}
	})

	run := func(label string, spec harness.ContainerSpec) *startupTrace {
		t.Helper()
		spec.Name = label
		spec.Labels = map[string]string{"dcfw.enable": "true", "dcfw.input.policy": "deny"}
		tr := &startupTrace{label: label, netName: netName(spec), filesBefore: netnsFiles()}
		c := h.CreateContainer(spec)
		tr.id = c.ID
		mu.Lock()
		traces[c.ID] = tr
		mu.Unlock()
		c.Start()
		tr.created = rec.WaitFor(30*time.Second, "create of "+label, harness.IsEvent(events.ContainerEventType, events.ActionCreate, c.ID))
		tr.started = rec.WaitFor(30*time.Second, "start of "+label, harness.IsEvent(events.ContainerEventType, events.ActionStart, c.ID))
		for _, ev := range rec.Events() {
			if harness.IsEvent(events.NetworkEventType, events.ActionConnect, c.ID)(ev) {
				tr.connected = append(tr.connected, ev)
			}
		}
		line := c.WaitForLog(`^started sleep at=\S+`, 10*time.Second)
		at, err := time.Parse(time.RFC3339Nano, strings.Fields(strings.TrimPrefix(line, "started sleep at="))[0])
		if err != nil {
			t.Fatalf("process start time in %q: %v", line, err)
		}
		tr.process = at
		tr.stopPolling()
		insp := c.Inspect()
		tr.startedAt, _ = time.Parse(time.RFC3339Nano, insp.State.StartedAt)
		if insp.NetworkSettings != nil {
			tr.sandboxKey = insp.NetworkSettings.SandboxKey
		}
		if tr.sandboxKey != "" {
			tr.sandboxNow, tr.sandboxNowErr = netnsutil.StatPath(tr.sandboxKey)
		}
		tr.processNS = c.NetNS()

		// Deterministic: the order of the events, and who they name.
		if len(tr.connected) == 0 && spec.ShareNetworkWith == nil {
			t.Errorf("%s: no network connect event", label)
		}
		for _, ev := range tr.connected {
			if ev.TimeNano < tr.created.TimeNano || ev.TimeNano > tr.started.TimeNano {
				t.Errorf("%s: network connect at %v is not between create %v and start %v", label, ev.At(), tr.created.At(), tr.started.At())
			}
		}
		return tr
	}

	var all []*startupTrace
	for i := range 5 {
		all = append(all, run(fmt.Sprintf("bridge%d", i), harness.ContainerSpec{Network: bridge}))
	}
	for i := range 3 {
		all = append(all, run(fmt.Sprintf("macvlan%d", i), harness.ContainerSpec{Network: macvlan}))
	}
	all = append(all, run("uid1000", harness.ContainerSpec{Network: bridge, User: "1000"}))
	all = append(all, run("shared", harness.ContainerSpec{ShareNetworkWith: &harness.Container{ID: all[0].id}}))
	all = append(all, run("hostnet", harness.ContainerSpec{NetworkMode: "host"}))

	for _, tr := range all {
		fmt.Println(tr.report())
	}
	fmt.Println(summarize(all))
}

func netName(spec harness.ContainerSpec) string {
	switch {
	case spec.Network != nil:
		return spec.Network.Driver
	case spec.ShareNetworkWith != nil:
		return "container:X"
	default:
		return spec.NetworkMode
	}
}

type startupTrace struct {
	label, id, netName string
	filesBefore        map[string]bool
	created, started   harness.Event
	connected          []harness.Event
	process            time.Time // the process's own first timestamp
	startedAt          time.Time // State.StartedAt
	sandboxKey         string
	sandboxNow         netnsutil.ID // of sandboxKey after the start
	sandboxNowErr      error
	processNS          netnsutil.ID

	// Written by the event handler and the poller, read after stopPolling.
	mu          sync.Mutex
	connectAt   time.Time // engine time of the connect event
	atConnect   connectObservation
	timeline    []string // "+12.3ms what happened"
	stop        chan struct{}
	pollerDone  chan struct{}
	inspectDone chan time.Time
}

type connectObservation struct {
	handlerLag     time.Duration // event time → handler running
	endpointListed bool
	mac            net.HardwareAddr
	ip             netip.Prefix
	newFiles       []string // "name: net:[...] links [lo]" or "name: error"
	macInHost      string   // name of the interface with the MAC in the host namespace
	macInSandbox   string   // "file/ifname up=.. ip=.."
	observeTook    time.Duration
}

func netnsFiles() map[string]bool {
	entries, _ := os.ReadDir(dockerNetnsDir)
	m := map[string]bool{}
	for _, e := range entries {
		m[e.Name()] = true
	}
	return m
}

func (tr *startupTrace) newFiles() []string {
	var out []string
	for name := range netnsFiles() {
		if !tr.filesBefore[name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// observeAtConnect runs in the event handler: nothing else is read from the
// stream until it returns. It starts the poller and returns.
func (tr *startupTrace) observeAtConnect(h *harness.Harness, ev harness.Event) {
	start := time.Now()
	o := connectObservation{handlerLag: start.Sub(ev.At())}
	tr.inspectDone = make(chan time.Time, 1)
	go func() {
		ctx, cancel := h.Ctx()
		defer cancel()
		_, _ = h.Docker().ContainerInspect(ctx, tr.id, client.ContainerInspectOptions{})
		tr.inspectDone <- time.Now()
	}()

	ctx, cancel := h.Ctx()
	insp, err := h.Docker().NetworkInspect(ctx, ev.Actor.ID, client.NetworkInspectOptions{})
	cancel()
	if err == nil {
		if ep, ok := insp.Network.Containers[tr.id]; ok {
			o.endpointListed, o.mac, o.ip = true, net.HardwareAddr(ep.MacAddress), ep.IPv4Address
		}
	}
	for _, name := range tr.newFiles() {
		o.newFiles = append(o.newFiles, describeNetnsFile(filepath.Join(dockerNetnsDir, name)))
		if len(o.mac) > 0 {
			if ifName, up, hasIP, err := findInterface(filepath.Join(dockerNetnsDir, name), o.mac, o.ip.Addr()); err == nil && ifName != "" {
				o.macInSandbox = fmt.Sprintf("%s/%s up=%v ip=%v", name, ifName, up, hasIP)
			}
		}
	}
	if len(o.mac) > 0 {
		o.macInHost = hostLinkWithMAC(o.mac)
	}
	o.observeTook = time.Since(start)

	tr.mu.Lock()
	tr.connectAt, tr.atConnect = ev.At(), o
	tr.stop, tr.pollerDone = make(chan struct{}), make(chan struct{})
	tr.mu.Unlock()
	go tr.poll(o.mac, o.ip.Addr())
}

// pollInterval and pollLimit bound the poller.
const (
	pollInterval = 2 * time.Millisecond
	pollLimit    = 30 * time.Second
)

// poll notes every change, relative to the connect event, until stopped.
func (tr *startupTrace) poll(mac net.HardwareAddr, ip netip.Addr) {
	defer close(tr.pollerDone)
	lastFile := map[string]string{}
	inHost := hostLinkWithMAC(mac) != ""
	var seen, seenIP bool
	deadline := time.After(pollLimit)
	for {
		for _, name := range tr.newFiles() {
			path := filepath.Join(dockerNetnsDir, name)
			d := describeNetnsFile(path)
			if lastFile[name] != d {
				tr.note("sandbox file %s", d)
				lastFile[name] = d
			}
			if len(mac) == 0 || seenIP {
				continue
			}
			ifName, up, hasIP, err := findInterface(path, mac, ip)
			if err != nil || ifName == "" {
				continue
			}
			if !seen || (hasIP && !seenIP) {
				tr.note("MAC %s inside %s as %s (up=%v, has IP=%v)", mac, name, ifName, up, hasIP)
				seen, seenIP = true, hasIP
			}
		}
		if len(mac) > 0 && inHost && hostLinkWithMAC(mac) == "" {
			tr.note("MAC %s gone from the host namespace", mac)
			inHost = false
		}
		select {
		case <-tr.stop:
			return
		case <-deadline:
			tr.note("poller gave up")
			return
		case <-time.After(pollInterval):
		}
	}
}

func (tr *startupTrace) note(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	at := time.Since(tr.connectAt)
	tr.timeline = append(tr.timeline, fmt.Sprintf("%+8.1fms  %s", float64(at)/float64(time.Millisecond), fmt.Sprintf(format, args...)))
}

func (tr *startupTrace) stopPolling() {
	tr.mu.Lock()
	stop, done := tr.stop, tr.pollerDone
	tr.mu.Unlock()
	if stop == nil {
		return // no connect event: nothing was started
	}
	// Let the poller see the last changes (the process started a moment
	// before its log line was read).
	time.Sleep(20 * time.Millisecond)
	close(stop)
	<-done
}

func describeNetnsFile(path string) string {
	name := filepath.Base(path)
	ns, err := netnsutil.OpenPath(path)
	if err != nil {
		return fmt.Sprintf("%s: %v", name, err)
	}
	defer ns.Close()
	nl, err := netlink.NewHandleAt(netns.NsHandle(ns.Fd()))
	if err != nil {
		return fmt.Sprintf("%s: %v: netlink: %v", name, ns.ID(), err)
	}
	defer nl.Close()
	links, _ := nl.LinkList()
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	return fmt.Sprintf("%s: %v links %v", name, ns.ID(), names)
}

func hostLinkWithMAC(mac net.HardwareAddr) string {
	links, err := netlink.LinkList()
	if err != nil {
		return ""
	}
	for _, l := range links {
		if bytes.Equal(l.Attrs().HardwareAddr, mac) {
			return l.Attrs().Name
		}
	}
	return ""
}

// findInterface looks inside the namespace at path for an interface with
// mac, and reports its name, whether it is up and whether it has ip.
func findInterface(path string, mac net.HardwareAddr, ip netip.Addr) (name string, up, hasIP bool, err error) {
	ns, err := netnsutil.OpenPath(path)
	if err != nil {
		return "", false, false, err
	}
	defer ns.Close()
	nl, err := netlink.NewHandleAt(netns.NsHandle(ns.Fd()))
	if err != nil {
		return "", false, false, err
	}
	defer nl.Close()
	links, err := nl.LinkList()
	if err != nil {
		return "", false, false, err
	}
	for _, l := range links {
		if !bytes.Equal(l.Attrs().HardwareAddr, mac) {
			continue
		}
		addrs, _ := nl.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			if a.IP.Equal(ip.AsSlice()) {
				hasIP = true
			}
		}
		return l.Attrs().Name, l.Attrs().Flags&net.FlagUp != 0, hasIP, nil
	}
	return "", false, false, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

func (tr *startupTrace) report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, %.12s):\n", tr.label, tr.netName, tr.id)
	fmt.Fprintf(&b, "  create event attributes: %s\n", attrs(tr.created.Actor.Attributes))
	fmt.Fprintf(&b, "  start event attributes:  %s\n", attrs(tr.started.Actor.Attributes))
	if len(tr.connected) == 0 {
		fmt.Fprintf(&b, "  NO network connect event\n")
	}
	for _, c := range tr.connected {
		o := tr.atConnect
		fmt.Fprintf(&b, "  network connect: actor %.12s attributes %s\n", c.Actor.ID, attrs(c.Actor.Attributes))
		fmt.Fprintf(&b, "    create→connect %s, connect→process start %s, process start→start event %s (handler ran %s after the event)\n",
			ms(c.At().Sub(tr.created.At())), ms(tr.process.Sub(c.At())), ms(tr.started.At().Sub(tr.process)), ms(o.handlerLag))
		fmt.Fprintf(&b, "    at the event: network inspect lists endpoint %v (mac %s ip %s); interface with the MAC in the host namespace: %q, in a new sandbox file: %q\n",
			o.endpointListed, o.mac, o.ip, o.macInHost, o.macInSandbox)
		fmt.Fprintf(&b, "    at the event: new files under %s: %v (looking took %s)\n", dockerNetnsDir, o.newFiles, ms(o.observeTook))
		fmt.Fprintf(&b, "    timeline after the event (polled every %s):\n", pollInterval)
		for _, l := range tr.timeline {
			fmt.Fprintf(&b, "      %s\n", l)
		}
		fmt.Fprintf(&b, "      %+8.1fms  process started (its own first timestamp)\n", float64(tr.process.Sub(c.At()))/float64(time.Millisecond))
		select {
		case done := <-tr.inspectDone:
			fmt.Fprintf(&b, "    container inspect begun at the event returned %s after the process started\n", ms(done.Sub(tr.process)))
		case <-time.After(10 * time.Second):
			fmt.Fprintf(&b, "    container inspect begun at the event had not returned\n")
		}
	}
	fmt.Fprintf(&b, "  after start: SandboxKey %q is %v (err %v); the process's namespace is %v\n",
		tr.sandboxKey, tr.sandboxNow, tr.sandboxNowErr, tr.processNS)
	fmt.Fprintf(&b, "  process first timestamp %s, State.StartedAt %s (StartedAt - process %s)\n",
		tr.process.Format(time.RFC3339Nano), tr.startedAt.Format(time.RFC3339Nano), ms(tr.startedAt.Sub(tr.process)))
	return b.String()
}

// attrs prints attributes sorted, long hex values (image IDs) shortened.
func attrs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hexID := regexp.MustCompile(`^[0-9a-f]{64}$`)
	var parts []string
	for _, k := range keys {
		v := m[k]
		if hexID.MatchString(v) {
			v = v[:12] + "…"
		}
		parts = append(parts, k+"="+v)
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// firstNote returns the offset (ms) of the first timeline entry containing
// substr, or "" when there is none.
func (tr *startupTrace) firstNote(substr string) (time.Duration, bool) {
	for _, l := range tr.timeline {
		if strings.Contains(l, substr) {
			f, err := strconv.ParseFloat(strings.TrimSuffix(strings.Fields(l)[0], "ms"), 64)
			if err == nil {
				return time.Duration(f * float64(time.Millisecond)), true
			}
		}
	}
	return 0, false
}

func summarize(all []*startupTrace) string {
	var lead, ipToProc []time.Duration
	var n, listed, inSandboxAtEvent, sameNS, labelled int
	for _, tr := range all {
		if tr.created.Actor.Attributes["dcfw.enable"] == "true" {
			labelled++
		}
		if len(tr.connected) == 0 || tr.netName == "host" {
			continue
		}
		n++
		c := tr.connected[0]
		lead = append(lead, tr.process.Sub(c.At()))
		if tr.atConnect.endpointListed {
			listed++
		}
		if tr.atConnect.macInSandbox != "" {
			inSandboxAtEvent++
		}
		if tr.sandboxNow == tr.processNS {
			sameNS++
		}
		if at, ok := tr.firstNote("has IP=true"); ok {
			ipToProc = append(ipToProc, tr.process.Sub(c.At())-at)
		}
	}
	stats := func(ds []time.Duration) string {
		if len(ds) == 0 {
			return "none"
		}
		slices.Sort(ds)
		return fmt.Sprintf("min %s, median %s, max %s (n=%d)", ms(ds[0]), ms(ds[len(ds)/2]), ms(ds[len(ds)-1]), len(ds))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "summary over %d containers with a namespace of their own:\n", n)
	fmt.Fprintf(&b, "  network connect event → process start: %s\n", stats(lead))
	fmt.Fprintf(&b, "  interface with its IP inside the sandbox file → process start: %s\n", stats(ipToProc))
	fmt.Fprintf(&b, "  at the connect event: endpoint in network inspect %d/%d, interface already inside a new sandbox file %d/%d\n",
		listed, n, inSandboxAtEvent, n)
	fmt.Fprintf(&b, "  SandboxKey's namespace after start == the process's namespace: %d/%d\n", sameNS, n)
	fmt.Fprintf(&b, "  create events carrying the container's labels: %d/%d\n", labelled, len(all))
	return b.String()
}
