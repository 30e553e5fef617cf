package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/engine/enginetest"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
)

// hostNS is the fake host's namespace identity.
var hostNS = netnsutil.ID{Dev: 4, Ino: 4026531840}

// testEnv is a controller on fakes, with its log captured.
type testEnv struct {
	t      *testing.T
	engine *enginetest.Engine
	nss    *fakeNamespaces
	fw     *memoryFirewall
	logs   *observer.ObservedLogs
	clock  *testClock
	cfg    Config
	ctrl   *Controller
	n      int
}

// testClock is a settable clock for the error rate limiting.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestEnv(t *testing.T, mods ...func(*Config)) *testEnv {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	e := &testEnv{
		t:      t,
		engine: enginetest.New(),
		nss:    newFakeNamespaces(hostNS),
		fw:     newMemoryFirewall(),
		logs:   logs,
		clock:  &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	e.cfg = Config{
		Engine:     e.engine,
		Namespaces: e.nss,
		Firewall:   e.fw,
		Log:        zap.New(core),
		Interval:   time.Hour, // tests drive cycles themselves
		Backoff:    Backoff{Min: time.Millisecond, Max: 20 * time.Millisecond},
		Now:        e.clock.Now,
	}
	for _, m := range mods {
		m(&e.cfg)
	}
	ctrl, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.ctrl = ctrl
	t.Cleanup(func() {
		if n := e.nss.Open(); n != 0 {
			t.Errorf("%d namespaces left open", n)
		}
	})
	return e
}

// containerID makes a 64-hex container ID from a name, like Docker's.
func containerID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

type ctrOpt func(e *testEnv, c *enginetest.Container)

// joining makes the container join other's namespace (container:other).
func joining(other enginetest.Container) ctrOpt {
	return func(e *testEnv, c *enginetest.Container) {
		c.NetworkMode = engine.NetworkMode("container:" + other.ID)
		e.nss.SetPID(c.PID, e.nsOf(other))
	}
}

// fromImage makes the container run image id (see enginetest.Engine.PutImage).
func fromImage(id, name string) ctrOpt {
	return func(e *testEnv, c *enginetest.Container) { c.ImageID, c.Image = id, name }
}

// hostNetwork makes the container run with network_mode host.
func hostNetwork(e *testEnv, c *enginetest.Container) {
	c.NetworkMode = "host"
	e.nss.SetPID(c.PID, hostNS)
}

// start adds a running container with its own namespace.
func (e *testEnv) start(name string, lbls map[string]string, opts ...ctrOpt) enginetest.Container {
	e.t.Helper()
	e.n++
	c := enginetest.Container{
		ID:          containerID(name),
		Name:        name,
		Labels:      lbls,
		NetworkMode: "default",
		PID:         1000 + e.n,
		Running:     true,
	}
	e.nss.SetPID(c.PID, netnsutil.ID{Dev: 4, Ino: 4026532000 + uint64(e.n)})
	for _, o := range opts {
		o(e, &c)
	}
	e.engine.Put(c)
	return c
}

// restart gives a container a new process in a new namespace.
func (e *testEnv) restart(c enginetest.Container) enginetest.Container {
	e.t.Helper()
	e.nss.KillPID(c.PID)
	e.n++
	c.PID = 1000 + e.n
	e.nss.SetPID(c.PID, netnsutil.ID{Dev: 4, Ino: 4026532000 + uint64(e.n)})
	e.engine.Update(c.ID, func(fc *enginetest.Container) { fc.PID = c.PID })
	return c
}

func (e *testEnv) nsOf(c enginetest.Container) netnsutil.ID {
	e.t.Helper()
	id, ok := e.nss.Lookup(c.PID)
	if !ok {
		e.t.Fatalf("%s (pid %d) has no namespace", c.Name, c.PID)
	}
	return id
}

// cycle runs one full reconcile, as the ticker does.
func (e *testEnv) cycle() CycleStats {
	e.t.Helper()
	if err := e.ctrl.identifyHost(); err != nil {
		e.t.Fatal(err)
	}
	return e.ctrl.periodic(context.Background())
}

// table is the dcfw table in c's namespace ("" when there is none).
func (e *testEnv) table(c enginetest.Container) string {
	e.t.Helper()
	t, _ := e.fw.Table(e.nsOf(c))
	return t
}

// policyTable is what labels compile to, with prefixID in log prefixes.
func policyTable(t *testing.T, lbls map[string]string, prefixID string) string {
	t.Helper()
	p, err := labels.Parse(lbls)
	if err != nil {
		t.Fatalf("labels: %v", err)
	}
	tbl, err := nft.Compile(p, prefixID)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return tbl.String()
}

func lockdownTable(prefixID string) string { return nft.Lockdown(prefixID).String() }

// entries returns the log entries at level whose message contains msg.
func (e *testEnv) entries(level zapcore.Level, msg string) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, le := range e.logs.All() {
		if le.Level == level && strings.Contains(le.Message, msg) {
			out = append(out, le)
		}
	}
	return out
}

// atLeast returns the log entries at level or above.
func (e *testEnv) atLeast(level zapcore.Level) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, le := range e.logs.All() {
		if le.Level >= level {
			out = append(out, le)
		}
	}
	return out
}

func (e *testEnv) resetLogs() { e.logs.TakeAll() }

// noLogsAbove fails if anything was logged above level since the last reset.
func (e *testEnv) noLogsAbove(level zapcore.Level) {
	e.t.Helper()
	for _, le := range e.logs.All() {
		if le.Level > level {
			e.t.Errorf("unexpected %s log: %s %v", le.Level, le.Message, le.ContextMap())
		}
	}
}

// eventually polls cond until it holds or a generous bound passes. The
// bound only protects the test run from hanging; nothing is asserted about
// how long it took.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// field returns a log entry's context field value.
func field(le observer.LoggedEntry, key string) any { return le.ContextMap()[key] }

var webLabels = map[string]string{
	"dcfw.enable":        "true",
	"dcfw.input.policy":  "deny",
	"dcfw.input.rule.1":  "allow on eth0 proto tcp from 192.168.110.0/24 to any port 80",
	"dcfw.input.rule.2":  "allow on eth0 proto tcp from 172.16.64.0/24 to any port 80",
	"dcfw.output.policy": "deny",
	"dcfw.output.rule.1": `allow proto tcp to 192.168.150.6 port 3306 comment "Allow access to MariaDB"`,
}

var openLabels = map[string]string{
	"dcfw.enable":       "true",
	"dcfw.input.policy": "allow",
}

var disabledLabels = map[string]string{"dcfw.enable": "false"}

var badLabels = map[string]string{
	"dcfw.enable":       "true",
	"dcfw.input.rule.1": "allow proto tcp frm 10.0.0.1",
}
