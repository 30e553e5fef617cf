package reconcile

import (
	"testing"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/engine/enginetest"
	"go.uber.org/zap/zapcore"
)

func TestLostStartEventIsRecoveredWithinAnInterval(t *testing.T) {
	tests := []struct {
		name string
		// lose runs the events up to the lost start event, and returns
		// the container as it runs afterwards.
		lose func(e *testEnv) enginetest.Container
	}{
		{"created, start event lost", func(e *testEnv) enginetest.Container {
			web := e.start("web", webLabels)
			e.ctrl.absorb([]engine.Event{{Kind: engine.EventCreate, ContainerID: web.ID, Attributes: map[string]string{"name": "web"}}})
			return web
		}},
		{"died and restarted, start event lost", func(e *testEnv) enginetest.Container {
			web := e.start("web", webLabels)
			e.cycle()
			e.ctrl.absorb([]engine.Event{{Kind: engine.EventDie, ContainerID: web.ID}})
			return e.restart(web)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			web := tt.lose(e)
			inspects := e.engine.Inspects(web.ID)
			want := policyTable(t, webLabels, web.ID)

			// A listing right after the event may show the container as
			// it was: it is not inspected (it may be starting).
			e.clock.Advance(e.cfg.Interval / 2)
			e.cycle()
			if e.engine.Inspects(web.ID) != inspects {
				t.Error("inspected a container that the events say is stopped, within an interval of the event")
			}
			if e.table(web) == want {
				t.Fatal("protected before the test lost anything")
			}

			e.clock.Advance(e.cfg.Interval / 2)
			e.cycle()
			if got := e.table(web); got != want {
				t.Errorf("not protected an interval after the lost start event:\n%s", got)
			}
			if len(e.entries(zapcore.WarnLevel, "no start event came within an interval")) != 1 {
				t.Errorf("no warning about the lost event: %v", e.logs.All())
			}
		})
	}
}

// A container dcfw leaves alone (dcfw.enable=false) whose start event was
// lost is recovered all the same, but not warned about: dcfw gives it no
// protection that could have come late.
func TestLostStartEventOfADisabledContainerIsNoWarning(t *testing.T) {
	e := newTestEnv(t)
	off := e.start("off", disabledLabels)
	e.ctrl.absorb([]engine.Event{{Kind: engine.EventCreate, ContainerID: off.ID, Attributes: map[string]string{"name": "off"}}})
	e.clock.Advance(e.cfg.Interval)
	e.cycle()
	if got := e.entries(zapcore.WarnLevel, "no start event came within an interval"); len(got) != 0 {
		t.Errorf("warned about a container dcfw leaves alone: %v", got)
	}
	if got := e.entries(zapcore.DebugLevel, "no start event came within an interval"); len(got) != 1 {
		t.Errorf("the recovery is not logged at debug: %v", e.logs.All())
	}
}
