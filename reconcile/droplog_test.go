package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/dcfw/dcfw/droplog"
	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/engine/enginetest"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nflog"
	"github.com/dcfw/dcfw/nft"
)

// fakeDropLog records what the controller asks of its DropLog.
type fakeDropLog struct {
	mu      sync.Mutex
	watched map[netnsutil.ID]watchCall
	watches int
	err     error // Watch's answer
	blocked map[netnsutil.ID]int
}

type watchCall struct {
	c     droplog.Container
	rules nft.LogRules
}

const fakeGroup uint16 = 77

func newFakeDropLog() *fakeDropLog {
	return &fakeDropLog{watched: map[netnsutil.ID]watchCall{}, blocked: map[netnsutil.ID]int{}}
}

func (f *fakeDropLog) Group() uint16 { return fakeGroup }

func (f *fakeDropLog) Watch(id netnsutil.ID, _ int, c droplog.Container, rules nft.LogRules) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watches++
	if f.err != nil {
		return f.err
	}
	f.watched[id] = watchCall{c: c, rules: rules}
	return nil
}

func (f *fakeDropLog) Forget(id netnsutil.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.watched, id)
}

func (f *fakeDropLog) Retain(keep func(netnsutil.ID) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	maps.DeleteFunc(f.watched, func(id netnsutil.ID, _ watchCall) bool { return !keep(id) })
}

func (f *fakeDropLog) BlockedAll() map[netnsutil.ID]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[netnsutil.ID]int{}
	for id := range f.watched {
		out[id] = f.blocked[id]
	}
	return out
}

func (f *fakeDropLog) get(id netnsutil.ID) (watchCall, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.watched[id]
	return w, ok
}

func (f *fakeDropLog) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watched)
}

func withDropLog(d *fakeDropLog, mode LogBlocked) func(*Config) {
	return func(c *Config) { c.LogBlocked, c.DropLog = mode, d }
}

// loggedTable is what the labels compile to with the log rules rewritten
// as mode says, and the log rules LogToGroup returned.
func modeTable(t *testing.T, lbls map[string]string, prefixID string, mode LogBlocked) (string, nft.LogRules) {
	t.Helper()
	var tbl *nft.Table
	if lbls == nil {
		tbl = nft.Lockdown(prefixID)
	} else {
		p, err := labels.Parse(lbls)
		if err != nil {
			t.Fatalf("labels: %v", err)
		}
		if tbl, err = nft.Compile(p, prefixID); err != nil {
			t.Fatalf("compile: %v", err)
		}
	}
	var rules nft.LogRules
	switch mode {
	case LogDcfw:
		rules = tbl.LogToGroup(fakeGroup)
	case LogOff:
		tbl.WithoutLogs()
	}
	return tbl.String(), rules
}

func TestParseLogBlocked(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want LogBlocked
		ok   bool
	}{
		{"dcfw", LogDcfw, true}, {"kernel", LogKernel, true}, {"off", LogOff, true},
		{"", 0, false}, {"DCFW", 0, false}, {"nflog", 0, false},
	} {
		got, err := ParseLogBlocked(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseLogBlocked(%q) = %v, %v", tt.in, got, err)
		}
		if tt.ok && got.String() != tt.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tt.in)
		}
	}
}

func TestLogBlockedNeedsDropLog(t *testing.T) {
	_, err := New(Config{Engine: newTestEnv(t).engine, Namespaces: newFakeNamespaces(hostNS), Firewall: newMemoryFirewall(), LogBlocked: LogDcfw})
	if err == nil {
		t.Error("New accepted LogDcfw without a DropLog")
	}
}

// Each mode writes its own form of the same table, for a policy and for a
// lockdown, and only dcfw mode reads the namespace.
func TestLogBlockedModesWriteTheirTable(t *testing.T) {
	broken := map[string]string{"dcfw.enable": "true", "dcfw.input.rule.1": "allow frm 10.0.0.1"}
	for _, mode := range []LogBlocked{LogKernel, LogDcfw, LogOff} {
		for _, tt := range []struct {
			name   string
			labels map[string]string
			want   map[string]string // nil: lockdown
		}{
			{"policy", webLabels, webLabels},
			{"lockdown", broken, nil},
		} {
			t.Run(mode.String()+"/"+tt.name, func(t *testing.T) {
				d := newFakeDropLog()
				e := newTestEnv(t, withDropLog(d, mode))
				web := e.start("web", tt.labels)
				e.cycle()
				want, rules := modeTable(t, tt.want, web.ID, mode)
				if got := e.table(web); got != want {
					t.Errorf("table:\n%s\nwant:\n%s", got, want)
				}
				w, ok := d.get(e.nsOf(web))
				if ok != (mode == LogDcfw) {
					t.Fatalf("namespace watched = %v in mode %v", ok, mode)
				}
				if !ok {
					return
				}
				if w.c != (droplog.Container{Name: "web", ID: web.ID}) {
					t.Errorf("watched as %+v", w.c)
				}
				if len(rules) == 0 || !maps.Equal(w.rules, rules) {
					t.Errorf("log rules %v, want %v", w.rules, rules)
				}
				// Steady: the same table, nothing written again.
				writes := len(e.fw.Writes())
				e.cycle()
				if n := len(e.fw.Writes()) - writes; n != 0 {
					t.Errorf("a steady cycle wrote %d times", n)
				}
			})
		}
	}
}

// The namespace's NFLOG socket goes with its management: dcfw.enable=false,
// a container that stopped, and one that restarted into a new namespace.
func TestDropLogReleasedWithTheNamespace(t *testing.T) {
	d := newFakeDropLog()
	e := newTestEnv(t, withDropLog(d, LogDcfw))
	web := e.start("web", webLabels)
	db := e.start("db", webLabels)
	app := e.start("app", webLabels)
	e.cycle()
	if n := d.count(); n != 3 {
		t.Fatalf("%d namespaces watched, want 3", n)
	}
	webNS, dbNS, appNS := e.nsOf(web), e.nsOf(db), e.nsOf(app)

	e.engine.Update(web.ID, func(c *enginetest.Container) { c.Labels = disabledLabels })
	e.engine.Delete(db.ID)
	e.nss.KillPID(db.PID)
	app2 := e.restart(app)
	e.cycle()
	for _, tt := range []struct {
		name string
		id   netnsutil.ID
		want bool
	}{
		{"web (dcfw.enable=false)", webNS, false},
		{"db (gone)", dbNS, false},
		{"app's old namespace", appNS, false},
		{"app's new namespace", e.nsOf(app2), true},
	} {
		if _, ok := d.get(tt.id); ok != tt.want {
			t.Errorf("%s watched = %v, want %v", tt.name, ok, tt.want)
		}
	}
}

// A stop seen through events releases the socket at once, not at the next
// full cycle.
func TestDropLogReleasedOnDieEvent(t *testing.T) {
	d := newFakeDropLog()
	e := newTestEnv(t, withDropLog(d, LogDcfw))
	e.run()
	e.waitLog(zapcore.InfoLevel, "initial reconcile", 1)
	web := e.start("web", webLabels)
	if err := e.engine.Emit(engine.Event{Kind: engine.EventStart, ContainerID: web.ID}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "web watched", func() bool { return d.count() == 1 })
	e.engine.Update(web.ID, func(c *enginetest.Container) { c.Running = false })
	e.nss.KillPID(web.PID)
	if err := e.engine.Emit(engine.Event{Kind: engine.EventDie, ContainerID: web.ID}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "web's socket released after its die event", func() bool { return d.count() == 0 })
}

// A table without log rules (allow policies) needs no socket; one that
// gets log rules later is watched from then on.
func TestDropLogOnlyWhereTheTableLogs(t *testing.T) {
	d := newFakeDropLog()
	e := newTestEnv(t, withDropLog(d, LogDcfw))
	open := map[string]string{"dcfw.enable": "true", "dcfw.input.policy": "allow"}
	web := e.start("web", open)
	e.cycle()
	if _, ok := d.get(e.nsOf(web)); ok {
		t.Error("a namespace whose table logs nothing is watched")
	}
	e.engine.Update(web.ID, func(c *enginetest.Container) { c.Labels = webLabels })
	e.cycle()
	if _, ok := d.get(e.nsOf(web)); !ok {
		t.Error("not watched after its labels asked for a deny policy")
	}
}

func TestDropLogNotWatchedInDryRun(t *testing.T) {
	d := newFakeDropLog()
	e := newTestEnv(t, withDropLog(d, LogDcfw), func(c *Config) { c.DryRun = true })
	e.start("web", webLabels)
	e.cycle()
	if d.count() != 0 || d.watches != 0 {
		t.Errorf("a dry run opened NFLOG sockets: %d", d.watches)
	}
}

// A namespace whose group another process reads keeps its rules; the
// error is logged once, not every cycle, and named.
func TestDropLogGroupBusyLoggedOnce(t *testing.T) {
	d := newFakeDropLog()
	d.err = fmt.Errorf("bind: %w", nflog.ErrGroupBusy)
	e := newTestEnv(t, withDropLog(d, LogDcfw))
	web := e.start("web", webLabels)
	for range 3 {
		e.cycle()
	}
	want, _ := modeTable(t, webLabels, web.ID, LogDcfw)
	if e.table(web) != want {
		t.Errorf("the rules are not in place when the group is busy")
	}
	lines := e.entries(zapcore.ErrorLevel, "reads dcfw's NFLOG group first")
	if len(lines) != 1 {
		t.Fatalf("%d error lines about the busy group, want 1; logs: %v", len(lines), e.logs.All())
	}
	if field(lines[0], "container") != "web" || !strings.Contains(fmt.Sprint(field(lines[0], "error")), nflog.ErrGroupBusy.Error()) {
		t.Errorf("line: %v", lines[0].ContextMap())
	}
	if d.watches != 3 {
		t.Errorf("Watch called %d times, want once per cycle (3): it is retried", d.watches)
	}
}

// The sandbox path and the PID path write the same dcfw-mode table: the
// PID path finds it in place and writes nothing.
func TestSandboxAndPIDPathsAgreeOnLogRules(t *testing.T) {
	d := newFakeDropLog()
	e := newSandboxEnv(t, withDropLog(d, LogDcfw), func(c *Config) { c.Interval = 10 * time.Millisecond })
	e.startRun()
	web := e.create("web", webLabels)
	e.connect(web, time.Now())
	e.sandbox(web, time.Now())
	want, _ := modeTable(t, webLabels, web.ID, LogDcfw)
	eventually(t, "the dcfw-mode ruleset in the sandbox namespace", func() bool { return e.tableIn(web.ns) == want })
	eventually(t, "the sandbox namespace watched", func() bool { _, ok := d.get(web.ns); return ok })
	writes := len(e.fw.Writes())
	e.startProcess(web, web.ns)
	e.waitLog(zapcore.DebugLevel, "sandbox path confirmed", 1)
	e.waitCycles(2)
	if got := len(e.fw.Writes()); got != writes {
		t.Errorf("the PID path rewrote the sandbox path's table %d times: %v", got-writes, e.fw.Writes()[writes:])
	}
}

func TestStatusReportsLiveTables(t *testing.T) {
	d := newFakeDropLog()
	e := newTestEnv(t, withDropLog(d, LogDcfw))
	web := e.start("web", webLabels)
	e.start("broken", map[string]string{"dcfw.enable": "true", "dcfw.output.policy": "maybe"})
	e.start("plain", nil)
	e.cycle()
	d.blocked[e.nsOf(web)] = 7

	st := e.ctrl.statusReport()
	if st.LogBlocked != "dcfw" || len(st.Containers) != 2 {
		t.Fatalf("status: %+v", st)
	}
	b, w := st.Containers[0], st.Containers[1]
	if b.Name != "broken" || b.Mode != ModeLockdown || b.Input != "lockdown" || b.Live != LiveEqual {
		t.Errorf("broken: %+v", b)
	}
	if w.Name != "web" || w.ID != web.ID[:12] || w.Mode != ModePolicy || w.Input != "deny" || w.InputRules != 2 ||
		w.Output != "deny" || w.OutputRules != 1 || w.Path != pathPID || w.Live != LiveEqual || w.Blocked == nil || *w.Blocked != 7 {
		t.Errorf("web: %+v", w)
	}

	// A table changed behind dcfw's back is reported as it is now, before
	// any cycle repairs it.
	e.fw.Delete(e.nsOf(web))
	st = e.ctrl.statusReport()
	if w := st.Containers[1]; w.Live != LiveDiffers || len(w.Differences) == 0 {
		t.Errorf("after tampering: %+v", w)
	}
	writes := len(e.fw.Writes())
	e.ctrl.statusReport()
	if len(e.fw.Writes()) != writes {
		t.Error("the status report wrote")
	}
	e.cycle()
	if w := e.ctrl.statusReport().Containers[1]; w.Live != LiveEqual {
		t.Errorf("after the repair: %+v", w)
	}
}

func TestStatusThroughRun(t *testing.T) {
	e := newTestEnv(t)
	e.start("web", webLabels)
	e.run()
	e.waitLog(zapcore.InfoLevel, "initial reconcile", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.ctrl.Status(ctx)
	if err != nil || len(st.Containers) != 1 || st.Containers[0].Live != LiveEqual || st.LogBlocked != "kernel" || st.Containers[0].Blocked != nil {
		t.Errorf("Status = %+v, %v", st, err)
	}
}

// While the engine does not answer, a namespace whose processes are gone
// is not held by its NFLOG socket until the engine is back.
func TestDropLogReleasedWhileTheEngineIsDown(t *testing.T) {
	d := newFakeDropLog()
	e := newTestEnv(t, withDropLog(d, LogDcfw), fastEngineTimeouts)
	web := e.start("web", webLabels)
	db := e.start("db", webLabels)
	e.cycle()
	webNS, dbNS := e.nsOf(web), e.nsOf(db)
	e.engine.FailList(errors.New("engine down"))
	e.nss.KillPID(web.PID)
	e.cycle()
	if _, ok := d.get(webNS); ok {
		t.Error("the namespace of a container whose process is gone is still watched while the engine is down")
	}
	if _, ok := d.get(dbNS); !ok {
		t.Error("a namespace still reachable was released while the engine is down")
	}
}
