package reconcile

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/engine/enginetest"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/sandbox"
	"github.com/dcfw/dcfw/sandbox/sandboxtest"
)

// Unit tests of the sandbox path on fakes: the engine's events, the
// sandbox directory and the firewall are in memory, the finder is the real
// one, and the controller's Run loop drives them as it drives the real
// ones.

// sbxEnv is a testEnv with an in-memory sandbox directory and the sandbox
// path on.
type sbxEnv struct {
	*testEnv
	dir *sandboxtest.Dir
}

const (
	sbxNetID   = "net1"
	sbxNetName = "br"
	// The image every created container runs (without dcfw labels).
	sbxImage   = "dcfw-test:latest"
	sbxImageID = "sha256:d1f0"
)

func newSandboxEnv(t *testing.T, mods ...func(*Config)) *sbxEnv {
	t.Helper()
	dir := sandboxtest.New()
	base := func(c *Config) {
		c.Sandboxes = sandbox.NewFinder(dir, time.Millisecond)
		c.SandboxTimeout = 5 * time.Second
	}
	e := &sbxEnv{testEnv: newTestEnv(t, append([]func(*Config){base}, mods...)...), dir: dir}
	e.engine.PutImage(sbxImageID, map[string]string{"maintainer": "dcfw"}, sbxImage)
	// Registered before run's cleanup, so it runs after Run has stopped.
	t.Cleanup(func() {
		if n := dir.OpenCount(); n != 0 {
			t.Errorf("%d sandbox namespaces left open", n)
		}
	})
	return e
}

// starting is a container between its create event and its process.
type starting struct {
	enginetest.Container
	ns   netnsutil.ID // the namespace runc will create for it
	file string       // its sandbox file
}

// create adds a created (not running) container and emits its create
// event, whose attributes carry the labels as the engine's do.
func (e *sbxEnv) create(name string, lbls map[string]string) *starting {
	e.t.Helper()
	e.n++
	c := enginetest.Container{ID: containerID(name), Name: name, Labels: lbls, NetworkMode: "default", PID: 1000 + e.n,
		ImageID: sbxImageID, Image: sbxImage}
	e.engine.Put(c)
	attrs := map[string]string{}
	for k, v := range lbls {
		attrs[k] = v
	}
	attrs["name"], attrs["image"] = name, sbxImage
	e.emit(engine.Event{Kind: engine.EventCreate, ContainerID: c.ID, Attributes: attrs, Time: time.Now()})
	return &starting{
		Container: c,
		ns:        netnsutil.ID{Dev: 4, Ino: 4026533000 + uint64(e.n)},
		file:      fmt.Sprintf("sbx%03d", e.n),
	}
}

func (e *sbxEnv) emit(ev engine.Event) {
	e.t.Helper()
	if err := e.engine.Emit(ev); err != nil {
		e.t.Fatal(err)
	}
}

// connect emits the container's network connect event at time at.
func (e *sbxEnv) connect(s *starting, at time.Time) {
	e.t.Helper()
	e.emit(engine.Event{Kind: engine.EventNetworkConnect, ContainerID: s.ID, NetworkID: sbxNetID, NetworkName: sbxNetName, Time: at})
}

// sandbox makes the container's sandbox file appear (born at born) with
// the runtime's init process of the container inside.
func (e *sbxEnv) sandbox(s *starting, born time.Time) {
	e.dir.Add(s.file, born, s.ns)
	e.dir.Enter(s.file, s.ID)
}

// startProcess runs the container's process in namespace ns and emits the
// start event.
func (e *sbxEnv) startProcess(s *starting, ns netnsutil.ID) {
	e.t.Helper()
	e.nss.SetPID(s.PID, ns)
	e.engine.Update(s.ID, func(c *enginetest.Container) { c.Running, c.PID = true, s.PID })
	e.emit(engine.Event{Kind: engine.EventStart, ContainerID: s.ID})
}

func (e *sbxEnv) tableIn(id netnsutil.ID) string {
	t, _ := e.fw.Table(id)
	return t
}

// applied returns the "protection applied" lines about container name.
func (e *sbxEnv) applied(name string) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, le := range e.entries(zapcore.InfoLevel, "protection applied") {
		if field(le, "container") == name {
			out = append(out, le)
		}
	}
	return out
}

// fallbacks returns the sandbox path's fallback lines about container name.
func (e *sbxEnv) fallbacks(name string) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, le := range e.logs.All() {
		if strings.HasPrefix(le.Message, "sandbox path cannot protect") && field(le, "container") == name {
			out = append(out, le)
		}
	}
	return out
}

// expireRequests moves the test clock on until the sandbox path has given
// up on a request of container name: the deadlines are on Config.Now.
func (e *sbxEnv) expireRequests(name string) {
	e.t.Helper()
	eventually(e.t, "a request of "+name+" timed out", func() bool {
		e.clock.Advance(e.cfg.SandboxTimeout)
		return len(e.fallbacks(name)) > 0
	})
}

func (e *sbxEnv) startRun() {
	e.t.Helper()
	e.run()
	e.waitLog(zapcore.InfoLevel, "initial reconcile", 1)
}

// waitCycles waits until n more periodic cycles have run.
func (e *sbxEnv) waitCycles(n int) {
	e.t.Helper()
	have := len(e.entries(zapcore.DebugLevel, "reconcile cycle"))
	e.waitLog(zapcore.DebugLevel, "reconcile cycle", have+n)
}

func TestSandboxPathProtectsBeforeTheProcess(t *testing.T) {
	e := newSandboxEnv(t, func(c *Config) { c.Interval = 10 * time.Millisecond })
	e.startRun()

	web := e.create("web", webLabels)
	at := time.Now()
	e.connect(web, at)
	// Docker binds the sandbox file a while after the event, then moves
	// the interface in.
	e.dir.AddUnmounted(web.file, at.Add(150*time.Millisecond))
	time.Sleep(5 * time.Millisecond)
	e.dir.Mount(web.file, web.ns)
	time.Sleep(5 * time.Millisecond)
	e.dir.Enter(web.file, web.ID)

	want := policyTable(t, webLabels, web.ID)
	eventually(t, "the full ruleset in the sandbox namespace", func() bool { return e.tableIn(web.ns) == want })
	e.waitLog(zapcore.InfoLevel, "protection applied", 1) // logged after the write
	if n := e.engine.Inspects(web.ID); n != 0 {
		t.Errorf("the starting container was inspected %d times (inspect blocks until its process runs)", n)
	}
	lines := e.applied("web")
	if len(lines) != 1 {
		t.Fatalf("protection applied logged %d times, want 1: %v", len(lines), lines)
	}
	ctx := lines[0].ContextMap()
	if ctx["path"] != pathSandbox || ctx["mode"] != string(ModePolicy) || ctx["sandbox"] != web.file {
		t.Errorf("protection line: %v", ctx)
	}
	if d, ok := ctx["since_connect"].(time.Duration); !ok || d <= 0 {
		t.Errorf("since_connect = %v", ctx["since_connect"])
	}
	if _, ok := ctx["since_start"]; ok {
		t.Errorf("since_start on the sandbox path, where the process has not started: %v", ctx)
	}
	writes := len(e.fw.Writes())

	// Periodic cycles before the process starts do not release the table
	// (no running container holds it yet).
	e.waitCycles(2)
	if e.tableIn(web.ns) != want {
		t.Fatal("a periodic cycle removed the sandbox path's table before the process started")
	}

	e.startProcess(web, web.ns)
	e.waitLog(zapcore.DebugLevel, "sandbox path confirmed", 1)
	e.waitCycles(2)
	if got := len(e.fw.Writes()); got != writes {
		t.Errorf("the PID path and the cycles wrote %d times after the sandbox path: %v", got-writes, e.fw.Writes()[writes:])
	}
	if n := len(e.applied("web")); n != 1 {
		t.Errorf("protection applied logged %d times", n)
	}
	e.noLogsAbove(zapcore.InfoLevel)
}

func TestSandboxLabelsCachedOnCreate(t *testing.T) {
	e := newSandboxEnv(t)
	id := containerID("web")
	attrs := map[string]string{"name": "web", "image": "nginx"}
	for k, v := range webLabels {
		attrs[k] = v
	}
	// absorb directly (no Run loop): the cache is the loop's state.
	e.ctrl.absorb([]engine.Event{{Kind: engine.EventCreate, ContainerID: id, Attributes: attrs, Time: time.Now()}})
	k := e.ctrl.known[id]
	if k == nil {
		t.Fatal("labels not cached on create")
	}
	policy, perr := k.parse()
	if k.name != "web" || perr != nil || policy.State != labels.Enabled || policy.Input.Policy.String() != "deny" || len(policy.Output.Rules) != 1 {
		t.Errorf("cached %+v: %+v %v", k, policy, perr)
	}
	if !k.parsed {
		t.Error("labels not parsed on create")
	}
	if calls := e.engine.Calls(); len(calls) != 0 {
		t.Errorf("create event caused engine calls %v", calls)
	}
	e.ctrl.absorb([]engine.Event{{Kind: engine.EventDestroy, ContainerID: id}})
	if e.ctrl.known[id] != nil {
		t.Error("destroyed container still cached")
	}
}

func TestSandboxUnknownContainerUsesPIDPath(t *testing.T) {
	// A connect without a create event seen (the container was created
	// before dcfw started): its labels are unknown, so no sandbox path.
	e := newSandboxEnv(t)
	e.startRun()
	s := &starting{Container: enginetest.Container{ID: containerID("old"), Name: "old", Labels: webLabels, PID: 4242}}
	e.engine.Put(s.Container)
	e.connect(s, time.Now())
	// The connect handled first (its reconcile finds nothing running), as
	// with a real engine, where the process starts after the event.
	e.waitLog(zapcore.DebugLevel, "reconciled after events", 1)
	e.startProcess(s, netnsutil.ID{Dev: 4, Ino: 4026539999})
	e.waitLog(zapcore.InfoLevel, "protection applied", 1)
	ctx := e.applied("old")[0].ContextMap()
	if ctx["path"] != pathPID || !strings.Contains(fmt.Sprint(ctx["fallback"]), "labels unknown") {
		t.Errorf("protection line %v", ctx)
	}
	for _, k := range []string{"since_connect", "since_start"} {
		if _, ok := ctx[k].(time.Duration); !ok {
			t.Errorf("no %s: %v", k, ctx)
		}
	}
	if n := e.dir.Reads(); n != 0 {
		t.Errorf("%d namespace lookups for a container of unknown labels", n)
	}
}

func TestSandboxAmbiguousFallsBack(t *testing.T) {
	e := newSandboxEnv(t)
	e.startRun()
	web := e.create("web", webLabels)
	at := time.Now()
	// Two new namespaces hold the endpoint's MAC and IP (e.g. the same
	// static addresses on two networks): neither may be trusted.
	other := netnsutil.ID{Dev: 4, Ino: 4026538888}
	e.dir.Add("a", at.Add(time.Millisecond), web.ns)
	e.dir.Enter("a", web.ID)
	e.dir.Add("b", at.Add(time.Millisecond), other)
	e.dir.Enter("b", web.ID)
	e.connect(web, at)

	e.waitLog(zapcore.WarnLevel, "sandbox path cannot protect", 1)
	fb := e.fallbacks("web")
	if len(fb) != 1 || !strings.Contains(fmt.Sprint(field(fb[0], "reason")), "cannot be told apart") {
		t.Fatalf("fallback lines: %v", fb)
	}
	if e.tableIn(web.ns) != "" || e.tableIn(other) != "" {
		t.Fatal("a namespace was written although the identification was ambiguous")
	}

	e.startProcess(web, web.ns)
	e.waitLog(zapcore.InfoLevel, "protection applied", 1)
	ctx := e.applied("web")[0].ContextMap()
	if ctx["path"] != pathPID || !strings.Contains(fmt.Sprint(ctx["fallback"]), "cannot be told apart") {
		t.Errorf("protection line: %v", ctx)
	}
	for _, k := range []string{"since_connect", "since_start"} {
		if _, ok := ctx[k].(time.Duration); !ok {
			t.Errorf("no %s on the PID path's line: %v", k, ctx)
		}
	}
	if e.tableIn(web.ns) != policyTable(t, webLabels, web.ID) || e.tableIn(other) != "" {
		t.Error("the PID path did not protect the right namespace alone")
	}
}

func TestSandboxTwoContainersInOneNewNamespaceFallBack(t *testing.T) {
	// Processes of two starting containers in one new namespace: it
	// cannot be attributed to either.
	e := newSandboxEnv(t)
	e.startRun()
	a := e.create("a", webLabels)
	b := e.create("b", openLabels)
	at := time.Now()
	e.connect(a, at)
	e.connect(b, at)
	time.Sleep(10 * time.Millisecond) // let both requests reach the finder
	e.sandbox(a, time.Now())
	e.dir.Enter(a.file, b.ID)
	e.waitLog(zapcore.WarnLevel, "sandbox path cannot protect", 2)
	if len(e.fw.Writes()) != 0 {
		t.Errorf("writes: %v", e.fw.Writes())
	}
}

func TestSandboxTimeoutFallsBack(t *testing.T) {
	e := newSandboxEnv(t, func(c *Config) { c.SandboxTimeout = 30 * time.Millisecond })
	e.startRun()
	web := e.create("web", webLabels)
	e.connect(web, time.Now())
	e.expireRequests("web")
	if r := fmt.Sprint(field(e.fallbacks("web")[0], "reason")); !strings.Contains(r, "in time") {
		t.Errorf("reason %q", r)
	}
	// The namespace shows up too late: the request is gone.
	e.sandbox(web, time.Now())
	time.Sleep(20 * time.Millisecond)
	if len(e.fw.Writes()) != 0 {
		t.Fatalf("written after the timeout: %v", e.fw.Writes())
	}
	e.startProcess(web, web.ns)
	e.waitLog(zapcore.InfoLevel, "protection applied", 1)
	if ctx := e.applied("web")[0].ContextMap(); ctx["path"] != pathPID || !strings.Contains(fmt.Sprint(ctx["fallback"]), "in time") {
		t.Errorf("protection line: %v", ctx)
	}
}

func TestSandboxProcessStartedFirstFallsBack(t *testing.T) {
	e := newSandboxEnv(t)
	e.startRun()
	web := e.create("web", webLabels)
	at := time.Now()
	e.connect(web, at)
	e.dir.Add(web.file, at.Add(time.Millisecond), web.ns) // no interface yet
	eventually(t, "the finder looking", func() bool { return e.dir.Reads() > 0 })
	e.startProcess(web, web.ns)
	e.waitLog(zapcore.InfoLevel, "protection applied", 1)
	fb := e.fallbacks("web")
	if len(fb) != 1 || !strings.Contains(fmt.Sprint(field(fb[0], "reason")), "process started before") {
		t.Errorf("fallback lines: %v", fb)
	}
	if ctx := e.applied("web")[0].ContextMap(); ctx["path"] != pathPID {
		t.Errorf("protection line: %v", ctx)
	}
	// The interface arriving now changes nothing: one write in all.
	e.dir.Enter(web.file, web.ID)
	time.Sleep(20 * time.Millisecond)
	if n := len(e.fw.Writes()); n != 1 {
		t.Errorf("%d writes", n)
	}
}

func TestSandboxSkipsWhatThePIDPathWouldNotProtect(t *testing.T) {
	e := newSandboxEnv(t, func(c *Config) { c.Scope = Scope{Key: "team", Value: "a", HasValue: true} })
	e.startRun()
	withTeam := func(team string, l map[string]string) map[string]string {
		m := map[string]string{"team": team}
		for k, v := range l {
			m[k] = v
		}
		return m
	}
	var skipped []*starting
	for _, c := range []struct {
		name string
		lbls map[string]string
	}{
		{"other-team", withTeam("b", webLabels)},
		{"disabled", withTeam("a", disabledLabels)},
		{"unmanaged", withTeam("a", nil)},
		{"no-scope-label", webLabels},
	} {
		s := e.create(c.name, c.lbls)
		at := time.Now()
		e.connect(s, at)
		e.sandbox(s, at.Add(time.Millisecond))
		skipped = append(skipped, s)
	}
	// One in scope, last: once it is protected, the others' events have
	// been handled (events are handled in order).
	web := e.create("web", withTeam("a", webLabels))
	at := time.Now()
	e.connect(web, at)
	e.sandbox(web, at.Add(time.Millisecond))
	eventually(t, "web protected", func() bool { return e.tableIn(web.ns) != "" })
	for _, s := range skipped {
		if e.tableIn(s.ns) != "" {
			t.Errorf("%s was written", s.Name)
		}
	}
}

func TestSandboxSkipsBrokenLabelsWithOnErrorSkip(t *testing.T) {
	e := newSandboxEnv(t, func(c *Config) { c.OnError = Skip })
	e.startRun()
	bad := e.create("bad", badLabels)
	at := time.Now()
	e.connect(bad, at)
	e.sandbox(bad, at.Add(time.Millisecond))
	web := e.create("web", openLabels)
	at = time.Now()
	e.connect(web, at)
	e.sandbox(web, at.Add(time.Millisecond))
	eventually(t, "web protected", func() bool { return e.tableIn(web.ns) != "" })
	if e.tableIn(bad.ns) != "" {
		t.Errorf("container with broken labels handled by the sandbox path under --on-error=skip")
	}
}

func TestSandboxLabelErrorsLockDown(t *testing.T) {
	e := newSandboxEnv(t)
	e.startRun()
	bad := e.create("bad", badLabels)
	at := time.Now()
	e.connect(bad, at)
	e.sandbox(bad, at.Add(time.Millisecond))
	want := lockdownTable(bad.ID)
	eventually(t, "lockdown in the sandbox namespace", func() bool { return e.tableIn(bad.ns) == want })
	e.waitLog(zapcore.InfoLevel, "protection applied", 1)
	if ctx := e.applied("bad")[0].ContextMap(); ctx["path"] != pathSandbox || ctx["mode"] != string(ModeLockdown) {
		t.Errorf("protection line: %v", ctx)
	}
	e.startProcess(bad, bad.ns)
	e.waitLog(zapcore.ErrorLevel, "invalid dcfw labels", 1) // the PID path names the label
	e.waitLog(zapcore.DebugLevel, "sandbox path confirmed", 1)
	if n := len(e.fw.Writes()); n != 1 {
		t.Errorf("%d writes, want 1", n)
	}
}

func TestSandboxOldAndHostNamespacesAreNeverCandidates(t *testing.T) {
	e := newSandboxEnv(t, func(c *Config) { c.SandboxTimeout = 50 * time.Millisecond })
	e.startRun()
	web := e.create("web", webLabels)
	at := time.Now()
	// Namespaces that existed before the request (a running container's),
	// and the host's namespace, each holding a process of the container.
	old := netnsutil.ID{Dev: 4, Ino: 4026537777}
	e.dir.Add("old", time.Time{}, old)
	e.dir.Enter("old", web.ID)
	e.dir.Add("earlier", at.Add(-time.Minute), old)
	e.dir.Enter("earlier", web.ID)
	e.dir.Add("default", at.Add(time.Millisecond), hostNS)
	e.dir.Enter("default", web.ID)
	e.connect(web, at)
	e.expireRequests("web")
	if r := fmt.Sprint(field(e.fallbacks("web")[0], "reason")); !strings.Contains(r, "in time") {
		t.Errorf("reason %q", r)
	}
	if w := e.fw.Writes(); len(w) != 0 {
		t.Fatalf("writes: %v", w)
	}
}

// protectDirect hands the loop an answer for a pending startup, without
// Run (the loop's state is the test's).
func (e *sbxEnv) protectDirect(s *starting, file string) {
	e.t.Helper()
	c := e.ctrl
	if err := c.identifyHost(); err != nil {
		e.t.Fatal(err)
	}
	c.known[s.ID] = &knownContainer{name: s.Name, labels: s.Labels}
	c.startups[s.ID] = &startup{token: 7, connectAt: time.Now(), cancel: func() {}}
	ns, err := e.dir.Open(file)
	if err != nil {
		e.t.Fatal(err)
	}
	c.takeSandboxes([]sandboxAnswer{{req: sandboxRequest{id: s.ID, name: s.Name, token: 7}, Result: sandbox.Result{NS: ns, File: file}}})
}

func TestSandboxLoopRefusesHostNamespace(t *testing.T) {
	e := newSandboxEnv(t)
	web := &starting{Container: enginetest.Container{ID: containerID("web"), Name: "web", Labels: webLabels}}
	e.dir.Add("default", time.Now(), hostNS)
	e.protectDirect(web, "default")
	if len(e.fw.Writes()) != 0 || e.tableIn(hostNS) != "" {
		t.Fatal("wrote into the host's namespace")
	}
	if len(e.entries(zapcore.ErrorLevel, "sandbox path cannot protect")) != 1 {
		t.Errorf("refusal not logged as an error: %v", e.logs.All())
	}
	if st := e.ctrl.startups[web.ID]; st.protected || st.ns != nil || st.pending() {
		t.Errorf("startup after refusal: %+v", st)
	}
	e.ctrl.endStartup(web.ID)
}

func TestSandboxLoopRefusesNamespaceOfAnotherContainer(t *testing.T) {
	e := newSandboxEnv(t)
	web := &starting{Container: enginetest.Container{ID: containerID("web"), Name: "web", Labels: webLabels}}
	taken := netnsutil.ID{Dev: 4, Ino: 4026536666}
	e.ctrl.applied[taken] = applied{fingerprint: "x", holders: []string{containerID("db")}}
	e.dir.Add("f", time.Now(), taken)
	e.protectDirect(web, "f")
	if len(e.fw.Writes()) != 0 {
		t.Fatal("wrote into a namespace dcfw protects for another container")
	}
	w := e.entries(zapcore.WarnLevel, "sandbox path cannot protect")
	if len(w) != 1 || !strings.Contains(fmt.Sprint(field(w[0], "reason")), engine.ShortID(containerID("db"))) {
		t.Errorf("refusal: %v", e.logs.All())
	}
	e.ctrl.endStartup(web.ID)
}

func TestSandboxWrongNamespaceIsRepaired(t *testing.T) {
	// Should the sandbox path ever write into a namespace that turns out not
	// to be the process's, the PID path notices and removes that table.
	e := newSandboxEnv(t)
	e.startRun()
	web := e.create("web", webLabels)
	at := time.Now()
	e.connect(web, at)
	e.sandbox(web, at.Add(time.Millisecond))
	want := policyTable(t, webLabels, web.ID)
	eventually(t, "sandbox path", func() bool { return e.tableIn(web.ns) == want })

	real := netnsutil.ID{Dev: 4, Ino: 4026535555}
	e.startProcess(web, real)
	e.waitLog(zapcore.ErrorLevel, "not the container's; rules removed there", 1)
	eventually(t, "the process's namespace protected", func() bool { return e.tableIn(real) == want })
	if e.tableIn(web.ns) != "" {
		t.Error("the wrongly protected namespace keeps the table")
	}
	lines := e.applied("web")
	if len(lines) != 2 || lines[1].ContextMap()["path"] != pathPID {
		t.Errorf("protection lines: %v", lines)
	}
}

func TestSandboxConcurrentStartsGetTheirOwnRules(t *testing.T) {
	e := newSandboxEnv(t)
	e.startRun()
	var all []*starting
	wants := map[*starting]string{}
	at := time.Now()
	for i := range 10 {
		lbls := map[string]string{
			"dcfw.enable":        "true",
			"dcfw.input.rule.1":  fmt.Sprintf("allow proto tcp to any port %d", 8000+i),
			"dcfw.output.policy": []string{"allow", "deny", "reject"}[i%3],
		}
		s := e.create(fmt.Sprintf("c%d", i), lbls)
		all = append(all, s)
		wants[s] = policyTable(t, lbls, s.ID)
		e.connect(s, at)
	}
	// The sandboxes appear in another order, all at once.
	for _, i := range []int{7, 2, 9, 0, 5, 3, 8, 1, 6, 4} {
		e.sandbox(all[i], time.Now())
	}
	for _, s := range all {
		eventually(t, s.Name+" protected", func() bool { return e.tableIn(s.ns) == wants[s] })
	}
	for _, s := range all {
		e.startProcess(s, s.ns)
	}
	e.waitLog(zapcore.DebugLevel, "sandbox path confirmed", len(all))
	if n := len(e.fw.Writes()); n != len(all) {
		t.Errorf("%d writes for %d containers", n, len(all))
	}
	for _, s := range all {
		if got := e.tableIn(s.ns); got != wants[s] {
			t.Errorf("%s holds:\n%s", s.Name, got)
		}
		if lines := e.applied(s.Name); len(lines) != 1 || lines[0].ContextMap()["path"] != pathSandbox {
			t.Errorf("%s: %v", s.Name, lines)
		}
	}
}

func TestSandboxDieEndsTheSearch(t *testing.T) {
	e := newSandboxEnv(t, func(c *Config) { c.Interval = 10 * time.Millisecond })
	e.startRun()
	web := e.create("web", webLabels)
	at := time.Now()
	e.connect(web, at)
	e.dir.Add(web.file, at.Add(time.Millisecond), web.ns)
	eventually(t, "the finder looking", func() bool { return e.dir.Reads() > 0 })
	e.emit(engine.Event{Kind: engine.EventDie, ContainerID: web.ID})
	e.waitCycles(1)
	e.dir.Enter(web.file, web.ID)
	e.waitCycles(2)
	if len(e.fw.Writes()) != 0 {
		t.Errorf("a dead container's namespace was written: %v", e.fw.Writes())
	}
}

func TestSandboxWatchFailureTurnsTheSandboxPathOff(t *testing.T) {
	e := newSandboxEnv(t)
	e.dir.FailWatch(fmt.Errorf("too many inotify instances"))
	e.startRun()
	if len(e.entries(zapcore.WarnLevel, "sandbox path off")) != 1 {
		t.Fatal("no warning")
	}
	web := e.create("web", webLabels)
	e.connect(web, time.Now())
	e.startProcess(web, web.ns)
	e.waitLog(zapcore.InfoLevel, "protection applied", 1)
	if ctx := e.applied("web")[0].ContextMap(); ctx["path"] != pathPID || ctx["fallback"] != "sandbox path off" {
		t.Errorf("protection line: %v", ctx)
	}
	if e.dir.Reads() != 0 {
		t.Error("namespaces looked at with the sandbox path off")
	}
}

func TestSandboxOffInDryRun(t *testing.T) {
	e := newSandboxEnv(t, func(c *Config) { c.DryRun = true })
	e.startRun()
	web := e.create("web", webLabels)
	at := time.Now()
	e.connect(web, at)
	e.sandbox(web, at.Add(time.Millisecond))
	e.startProcess(web, web.ns)
	e.waitLog(zapcore.InfoLevel, "dry run: would apply protection", 1)
	if e.dir.Reads() != 0 || len(e.fw.Writes()) != 0 {
		t.Error("dry run used the sandbox path")
	}
}

func TestSandboxProtectedNamespaceStaysOwnedUntilTheProcessRuns(t *testing.T) {
	// Between the sandbox path's write and the process start, full cycles
	// see no running container holding the namespace. It must stay
	// recorded as the starting container's: another container's answer
	// naming it is refused.
	e := newSandboxEnv(t)
	a := &starting{Container: enginetest.Container{ID: containerID("a"), Name: "a", Labels: webLabels}}
	ns := netnsutil.ID{Dev: 4, Ino: 4026534444}
	e.dir.Add("f", time.Now(), ns)
	e.protectDirect(a, "f")
	if e.tableIn(ns) == "" {
		t.Fatal("not protected")
	}
	e.cycle()
	e.cycle()
	b := &starting{Container: enginetest.Container{ID: containerID("b"), Name: "b", Labels: openLabels}}
	e.protectDirect(b, "f")
	if got, want := e.tableIn(ns), policyTable(t, webLabels, a.ID); got != want || len(e.fw.Writes()) != 1 {
		t.Errorf("namespace of a starting container rewritten for another: %v", e.fw.Writes())
	}
	if len(e.entries(zapcore.WarnLevel, "sandbox path cannot protect")) != 1 {
		t.Errorf("no refusal: %v", e.logs.All())
	}
	e.ctrl.endStartup(a.ID)
	e.ctrl.endStartup(b.ID)
}

func TestSandboxRestartUsesTheSandboxPathWithoutInspecting(t *testing.T) {
	// docker restart: die, connect, start. Between the die and the start
	// the container may still be listed as running, but inspecting it
	// would block until its new process runs (stalling the loop and the
	// sandbox path): it is not inspected until its start event.
	e := newSandboxEnv(t)
	web := e.start("web", webLabels, fromImage(sbxImageID, sbxImage))
	e.startRun()
	want := policyTable(t, webLabels, web.ID)
	if e.table(web) != want {
		t.Fatal("not protected at start")
	}
	inspects, images := e.engine.Inspects(web.ID), e.engine.ImageCalls()

	e.emit(engine.Event{Kind: engine.EventDie, ContainerID: web.ID}) // still listed as running
	s := &starting{Container: web, ns: netnsutil.ID{Dev: 4, Ino: 4026532777}, file: "restarted"}
	at := time.Now()
	e.connect(s, at)
	e.sandbox(s, at.Add(time.Millisecond))
	eventually(t, "the new namespace protected before the start event", func() bool { return e.tableIn(s.ns) == want })
	if n := e.engine.Inspects(web.ID); n != inspects {
		t.Errorf("inspected %d times between die and start", n-inspects)
	}
	if n := e.engine.ImageCalls(); n != images {
		t.Errorf("asked for the image's labels %d times; the listing's image ID was known", n-images)
	}
	s.PID = 7777
	e.startProcess(s, s.ns)
	e.waitLog(zapcore.DebugLevel, "sandbox path confirmed", 1)
	lines := e.applied("web")
	if len(lines) != 2 || lines[0].ContextMap()["path"] != pathPID || lines[1].ContextMap()["path"] != pathSandbox {
		t.Errorf("protection lines: %v", lines)
	}
	e.noLogsAbove(zapcore.InfoLevel)
}

func TestSandboxReplayedEventsOfARunningContainer(t *testing.T) {
	// The subscription replays the last second: create, connect and start
	// of a container the first listing already showed running. It is not
	// taken for a starting container.
	e := newSandboxEnv(t)
	web := e.start("web", webLabels)
	c := e.ctrl
	c.learnListed([]engine.Container{{ID: web.ID, Names: []string{"web"}, Labels: webLabels}})
	attrs := map[string]string{"name": "web", "image": "x", "dcfw.enable": "true"}
	targets := c.absorb([]engine.Event{
		{Kind: engine.EventCreate, ContainerID: web.ID, Attributes: attrs},
		{Kind: engine.EventNetworkConnect, ContainerID: web.ID, NetworkID: sbxNetID, Time: time.Now()},
	})
	if st := c.startups[web.ID]; !targets[web.ID] || st != nil && (st.pending() || st.protected) || c.known[web.ID].stopped || c.known[web.ID].fromEvent {
		t.Errorf("replayed events: targets %v, startup %+v, known %+v", targets, c.startups[web.ID], c.known[web.ID])
	}
}

func TestSandboxAnswersAreTakenBetweenReconcileSteps(t *testing.T) {
	// An answer that arrives while the loop works (a cycle, a listing)
	// is taken at the next step, not after the whole batch; but not
	// while a resync is due.
	e := newSandboxEnv(t)
	web := &starting{Container: enginetest.Container{ID: containerID("web"), Name: "web", Labels: webLabels}, ns: netnsutil.ID{Dev: 4, Ino: 4026533333}}
	e.dir.Add("f", time.Now(), web.ns)
	c := e.ctrl
	if err := c.identifyHost(); err != nil {
		t.Fatal(err)
	}
	c.finder = c.cfg.Sandboxes // marks the sandbox path on; not started
	c.known[web.ID] = &knownContainer{name: "web", labels: webLabels, stopped: true}
	c.startups[web.ID] = &startup{token: 3, connectAt: time.Now(), cancel: func() {}}
	ns, err := e.dir.Open("f")
	if err != nil {
		t.Fatal(err)
	}
	c.queue.connected() // a resync is due
	c.queue.pushSandbox(sandboxAnswer{req: sandboxRequest{id: web.ID, name: "web", token: 3}, Result: sandbox.Result{NS: ns, File: "f", FoundAt: time.Now()}})
	c.drainSandboxes()
	if e.tableIn(web.ns) != "" {
		t.Fatal("answer taken while a resync was due")
	}
	c.queue.take()
	c.queue.pushSandbox(sandboxAnswer{req: sandboxRequest{id: web.ID, name: "web", token: 3}, Result: sandbox.Result{NS: ns, File: "f", FoundAt: time.Now()}})
	c.reconcileNow(t)
	if e.tableIn(web.ns) != policyTable(t, webLabels, web.ID) {
		t.Error("answer not taken during the cycle")
	}
	c.endStartup(web.ID)
}

// reconcileNow runs one full reconcile on the caller's goroutine.
func (c *Controller) reconcileNow(t *testing.T) {
	t.Helper()
	if _, err := c.reconcileAll(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSandboxReplayedCreateWaitingInTheQueueStartsNoSearch(t *testing.T) {
	// A dcfw that starts subscribes a second in the past: the create event
	// of a container that already runs waits in the queue while the first
	// full reconcile lists it. Taken between the steps of that reconcile,
	// it must not start a search for a namespace (the container runs).
	e := newSandboxEnv(t)
	web := e.start("web", webLabels)
	c := e.ctrl
	if err := c.identifyHost(); err != nil {
		t.Fatal(err)
	}
	c.finder = c.cfg.Sandboxes // marks the sandbox path on; not started
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	defer c.bgCancel()
	attrs := map[string]string{"name": "web", "image": "x"}
	for k, v := range webLabels {
		attrs[k] = v
	}
	c.queue.push(engine.Event{Kind: engine.EventCreate, ContainerID: web.ID, Attributes: attrs, Time: time.Now().Add(-500 * time.Millisecond)})
	c.reconcileNow(t)
	if st := c.startups[web.ID]; st != nil && (st.pending() || st.protected) {
		t.Errorf("a search started for a running container: %+v", st)
	}
	if e.table(web) != policyTable(t, webLabels, web.ID) {
		t.Error("not protected")
	}
}

// A process that exits at once and a container started again before the
// events say so: the namespace the sandbox path protected was the
// container's previous one, which Docker removed. Not an error.
func TestSandboxPreviousNamespaceRemovedIsNoError(t *testing.T) {
	e := newSandboxEnv(t)
	e.startRun()
	web := e.create("web", webLabels)
	at := time.Now()
	e.connect(web, at)
	e.sandbox(web, at.Add(time.Millisecond))
	want := policyTable(t, webLabels, web.ID)
	eventually(t, "sandbox path", func() bool { return e.tableIn(web.ns) == want })

	e.dir.Remove(web.file) // the first run is over; Docker removed its sandbox
	second := netnsutil.ID{Dev: 4, Ino: 4026535556}
	e.startProcess(web, second)
	e.waitLog(zapcore.DebugLevel, "previous namespace, since removed", 1)
	eventually(t, "the new namespace protected", func() bool { return e.tableIn(second) == want })
	if n := len(e.entries(zapcore.ErrorLevel, "not the container's")); n != 0 {
		t.Errorf("%d errors about the previous namespace", n)
	}
}
