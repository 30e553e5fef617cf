package reconcile

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

func TestUnrepairableTableIsAnErrorEveryCycle(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	e.start("bad", badLabels)
	e.cycle()
	// The container (with NET_ADMIN) puts its own table in the way, which
	// dcfw cannot replace.
	ns := e.nsOf(web)
	e.fw.Tamper(ns, ownedTable)
	e.fw.Fail(ns, errors.New("EBUSY"))
	e.resetLogs()
	for i := range 3 {
		e.clock.Advance(10 * time.Second)
		if st := e.cycle(); st.Errors != 2 {
			t.Errorf("cycle %d: stats %+v, want 2 errors", i, st)
		}
	}
	repairs := e.entries(zapcore.ErrorLevel, "cannot write the namespace's rules")
	if len(repairs) != 3 {
		t.Fatalf("want the failed repair logged in each of 3 cycles, got %d: %v", len(repairs), e.logs.All())
	}
	if field(repairs[0], "container") != "web" || field(repairs[0], "differences") == nil {
		t.Errorf("repair error fields: %v", repairs[0].ContextMap())
	}
	// Other errors keep their rate limit.
	if l := e.entries(zapcore.ErrorLevel, "invalid dcfw labels"); len(l) != 0 {
		t.Errorf("the label error was logged again within ErrorRepeat: %d lines", len(l))
	}
}
