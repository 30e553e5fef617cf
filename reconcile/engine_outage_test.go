package reconcile

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

func fastEngineTimeouts(c *Config) {
	c.Interval = 20 * time.Millisecond
	c.APITimeout = 100 * time.Millisecond
}

func TestHungEngineDoesNotStopRepairs(t *testing.T) {
	e := newTestEnv(t, fastEngineTimeouts)
	web := e.start("web", webLabels)
	side := e.start("side", webLabels, joining(web))
	e.run()
	want := policyTable(t, webLabels, web.ID)
	eventually(t, "initial protection", func() bool { return e.table(web) == want })

	e.engine.Block()
	e.waitLog(zapcore.WarnLevel, "docker engine does not answer", 1)
	for i := range 3 {
		e.fw.Delete(e.nsOf(web))
		eventually(t, "tampering repaired while the engine hangs", func() bool { return e.table(web) == want })
		if i == 0 && len(e.entries(zapcore.WarnLevel, "drift repaired")) == 0 {
			t.Errorf("the repair is not logged as drift: %v", e.logs.All())
		}
	}
	if n := len(e.entries(zapcore.WarnLevel, "docker engine does not answer")); n != 1 {
		t.Errorf("%d warnings that the engine does not answer, want 1", n)
	}
	if got := e.table(side); got != want {
		t.Errorf("shared namespace:\n%s", got)
	}

	e.engine.Unblock()
	e.waitLog(zapcore.InfoLevel, "docker engine answers again", 1)
	late := e.start("late", openLabels)
	eventually(t, "a new container protected once the engine answers", func() bool {
		return e.table(late) == policyTable(t, openLabels, late.ID)
	})
}

// An engine that lists but then hangs on inspects: the cycle stops asking
// it after the first deadline, and the known namespaces are still checked.
func TestHungInspectEndsTheCycleEarly(t *testing.T) {
	e := newTestEnv(t, fastEngineTimeouts)
	web := e.start("web", webLabels)
	e.cycle()
	want := policyTable(t, webLabels, web.ID)
	for _, name := range []string{"a", "b", "c", "d"} {
		e.start(name, openLabels)
	}
	e.fw.Delete(e.nsOf(web))
	e.ctrl.cache.flush() // every container needs an inspect
	e.engine.BlockAfterList()

	start := time.Now()
	e.cycle()
	if took := time.Since(start); took > 3*e.cfg.APITimeout {
		t.Errorf("the cycle took %v: it kept calling a hung engine", took)
	}
	if e.table(web) != want {
		t.Error("the known namespace was not repaired")
	}
	if len(e.entries(zapcore.WarnLevel, "docker engine does not answer")) != 1 {
		t.Errorf("no warning: %v", e.logs.All())
	}
	e.engine.Unblock()
}

func TestEngineGoneKeepsRepairing(t *testing.T) {
	e := newTestEnv(t, fastEngineTimeouts)
	web := e.start("web", webLabels)
	e.run()
	want := policyTable(t, webLabels, web.ID)
	eventually(t, "initial protection", func() bool { return e.table(web) == want })

	// The engine goes away: the stream breaks and nothing answers.
	e.engine.FailSubscribe(errors.New("connection refused"))
	e.engine.FailList(errors.New("connection refused"))
	e.engine.BreakStream(errors.New("unexpected EOF"))
	e.waitLog(zapcore.WarnLevel, "event stream lost", 1)
	e.fw.Tamper(e.nsOf(web), emptyTable)
	eventually(t, "tampering repaired while the engine is gone", func() bool { return e.table(web) == want })
}

func TestSubscribeToAHungEngineTimesOut(t *testing.T) {
	e := newTestEnv(t, fastEngineTimeouts)
	web := e.start("web", webLabels)
	e.engine.Block()
	e.run()
	e.waitLog(zapcore.WarnLevel, "cannot subscribe", 1)
	e.engine.Unblock()
	e.waitLog(zapcore.InfoLevel, "initial reconcile", 1)
	if e.table(web) == "" {
		t.Error("not protected once the engine answered")
	}
}
