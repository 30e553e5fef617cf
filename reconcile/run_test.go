package reconcile

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dcfw/dcfw/engine"
	"go.uber.org/zap/zapcore"
)

// run starts the controller's Run loop and stops it at the end of the test.
func (e *testEnv) run() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.ctrl.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			e.t.Error("Run did not stop after cancel")
		}
	})
}

// waitLog waits until n info lines with msg were logged.
func (e *testEnv) waitLog(level zapcore.Level, msg string, n int) {
	e.t.Helper()
	eventually(e.t, "log "+msg, func() bool { return len(e.entries(level, msg)) >= n })
}

func TestRunSubscribesBeforeFirstReconcile(t *testing.T) {
	e := newTestEnv(t)
	e.start("web", webLabels)
	e.run()
	e.waitLog(zapcore.InfoLevel, "initial reconcile", 1)
	calls := e.engine.Calls()
	sub, list := slices.Index(calls, "subscribe"), slices.Index(calls, "list")
	if sub < 0 || list < 0 || sub > list {
		t.Errorf("engine calls %v: want subscribe before the first list", calls)
	}
}

func TestEventsTriggerImmediateReconcile(t *testing.T) {
	e := newTestEnv(t) // interval 1h: only events can cause the work below
	e.run()
	e.waitLog(zapcore.InfoLevel, "initial reconcile", 1)

	web := e.start("web", webLabels)
	if err := e.engine.Emit(engine.Event{Kind: engine.EventStart, ContainerID: web.ID}); err != nil {
		t.Fatal(err)
	}
	want := policyTable(t, webLabels, web.ID)
	eventually(t, "web protected after its start event", func() bool {
		got, _ := e.fw.Table(e.nsOf(web))
		return got == want
	})

	// A restart: new process, new namespace, announced by events.
	web2 := e.restart(web)
	if err := e.engine.Emit(engine.Event{Kind: engine.EventStart, ContainerID: web.ID}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "web protected again after its restart", func() bool {
		got, _ := e.fw.Table(e.nsOf(web2))
		return got == want
	})
}

func TestDieEventReleasesOwnerNamespace(t *testing.T) {
	// A managed sidecar joined an unmanaged container's namespace. When the
	// sidecar stops, nobody asks for the rules in the owner's namespace.
	e := newTestEnv(t)
	owner := e.start("app", nil)
	side := e.start("sidecar", webLabels, joining(owner))
	e.run()
	e.waitLog(zapcore.InfoLevel, "initial reconcile", 1)
	if e.table(owner) == "" {
		t.Fatal("shared namespace not protected")
	}
	e.engine.Delete(side.ID)
	e.nss.KillPID(side.PID)
	if err := e.engine.Emit(engine.Event{Kind: engine.EventDie, ContainerID: side.ID}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "table released after the sidecar died", func() bool { return e.table(owner) == "" })
}

func TestStreamReconnectTriggersFullReconcile(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	e.run()
	e.waitLog(zapcore.InfoLevel, "initial reconcile", 1)
	inspects := e.engine.Inspects(web.ID)

	// The engine restarts: the stream breaks, and a container starts while
	// it is down (its events are lost).
	e.engine.FailSubscribe(errors.New("connection refused"))
	e.engine.BreakStream(errors.New("unexpected EOF"))
	e.waitLog(zapcore.WarnLevel, "event stream lost", 1)
	late := e.start("late", openLabels)
	e.engine.FailSubscribe(nil)

	e.waitLog(zapcore.InfoLevel, "reconcile after reconnect", 1)
	if got, want := e.table(late), policyTable(t, openLabels, late.ID); got != want {
		t.Errorf("container started while the stream was down is not protected:\n%s", got)
	}
	if e.engine.Subscriptions() < 2 {
		t.Errorf("subscriptions = %d", e.engine.Subscriptions())
	}
	if e.engine.Inspects(web.ID) <= inspects {
		t.Error("the inspect cache was not flushed on reconnect")
	}
	if len(e.entries(zapcore.InfoLevel, "reconnected")) != 1 {
		t.Errorf("no 'reconnected' line: %v", e.logs.All())
	}
}

func TestEngineDownAtStart(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	e.engine.FailSubscribe(errors.New("connection refused"))
	e.run()
	e.waitLog(zapcore.WarnLevel, "cannot subscribe", 1)
	eventually(t, "several attempts", func() bool { return e.engine.Subscriptions() == 0 && len(e.engine.Calls()) >= 3 })
	if e.engine.Lists() != 0 {
		t.Error("listed containers before the event subscription existed")
	}
	e.engine.FailSubscribe(nil)
	e.waitLog(zapcore.InfoLevel, "initial reconcile", 1)
	if e.table(web) == "" {
		t.Error("not protected after the engine came up")
	}
	if n := len(e.entries(zapcore.WarnLevel, "cannot subscribe")); n != 1 {
		t.Errorf("retries logged %d warnings, want 1 (the rest at debug)", n)
	}
}

func TestTickerRepairsDrift(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.Interval = 5 * time.Millisecond })
	web := e.start("web", webLabels)
	e.run()
	want := policyTable(t, webLabels, web.ID)
	eventually(t, "initial protection", func() bool { return e.table(web) == want })
	e.fw.Delete(e.nsOf(web))
	eventually(t, "drift repaired by the ticker", func() bool { return e.table(web) == want })
	e.waitLog(zapcore.WarnLevel, "drift repaired", 1)
}

func TestRunStopLeavesRules(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.ctrl.Run(ctx) }()
	e.waitLog(zapcore.InfoLevel, "initial reconcile", 1)
	writes := len(e.fw.Writes())
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v on cancel, want nil", err)
	}
	if e.table(web) == "" || len(e.fw.Writes()) != writes {
		t.Error("stopping changed the rules")
	}
}
