package reconcile

import (
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/engine/enginetest"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nft"
)

// The generation skip (enforce, nft.Conn.ApplyKnown): a namespace whose
// ruleset generation has not moved since dcfw last found or made its table
// as desired, for the same desired table and the same processes, is not
// read at all. Everything else is read (and repaired).

// steadyEnv is a controller with one protected container after the cycle
// that wrote its table and one that skipped.
func steadyEnv(t *testing.T) (*testEnv, enginetest.Container) {
	t.Helper()
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	e.cycle() // writes
	if n := len(e.fw.Writes()); n != 1 {
		t.Fatalf("first cycle: %d writes, want 1", n)
	}
	reads := e.fw.Reads()
	e.cycle()
	if e.fw.Skips() != 1 || e.fw.Reads() != reads {
		t.Fatalf("second cycle, nothing changed: %d skips, %d more reads; want 1 skip, no read", e.fw.Skips(), e.fw.Reads()-reads)
	}
	return e, web
}

func TestGenerationSkipWhenNothingChanged(t *testing.T) {
	e, web := steadyEnv(t)
	reads, skips := e.fw.Reads(), e.fw.Skips()
	for range 3 {
		if st := e.cycle(); st.Changed != 0 || st.Errors != 0 {
			t.Fatalf("stats = %+v, want nothing changed", st)
		}
	}
	if got := e.fw.Skips() - skips; got != 3 {
		t.Errorf("%d skips in 3 steady cycles, want 3", got)
	}
	if got := e.fw.Reads() - reads; got != 0 {
		t.Errorf("%d reads in 3 steady cycles, want 0", got)
	}
	if n := len(e.fw.Writes()); n != 1 {
		t.Errorf("%d writes in all, want the first one only", n)
	}
	if got, want := e.table(web), policyTable(t, webLabels, web.ID); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestGenerationMovedForcesRead(t *testing.T) {
	tests := []struct {
		name      string
		do        func(e *testEnv, c enginetest.Container) enginetest.Container
		wantWrite bool
		wantDrift bool
		want      func(t *testing.T, c enginetest.Container) string
	}{
		{
			name: "table altered inside the namespace",
			do: func(e *testEnv, c enginetest.Container) enginetest.Container {
				e.fw.Tamper(e.nsOf(c), emptyTable)
				return c
			},
			wantWrite: true, wantDrift: true,
		},
		{
			name: "table deleted inside the namespace",
			do: func(e *testEnv, c enginetest.Container) enginetest.Container {
				e.fw.Delete(e.nsOf(c))
				return c
			},
			wantWrite: true, wantDrift: true,
		},
		{
			// Someone rewrote exactly what was there: the generation moved,
			// so it is read, found equal, and nothing is written.
			name: "table rewritten unchanged inside the namespace",
			do: func(e *testEnv, c enginetest.Container) enginetest.Container {
				e.fw.Tamper(e.nsOf(c), func(live *nft.Table) *nft.Table { return live })
				return c
			},
		},
		{
			name: "labels changed",
			do: func(e *testEnv, c enginetest.Container) enginetest.Container {
				e.engine.Update(c.ID, func(fc *enginetest.Container) { fc.Labels = openLabels })
				return c
			},
			wantWrite: true,
			want: func(t *testing.T, c enginetest.Container) string {
				return policyTable(t, openLabels, c.ID)
			},
		},
		{
			// The kernel reuses namespace inode numbers, and a new
			// namespace's generation counts from the start again: the new
			// one may show the very generation remembered for the old one,
			// with an empty ruleset. The new process (PID) must bring the
			// read.
			name: "namespace replaced, same identity, same generation",
			do: func(e *testEnv, c enginetest.Container) enginetest.Container {
				ns := e.nsOf(c)
				gen := e.ctrl.applied[ns].gen
				if !gen.Known {
					e.t.Fatal("no generation remembered after a steady cycle")
				}
				e.nss.KillPID(c.PID)
				c.PID += 500
				e.nss.SetPID(c.PID, ns)
				e.engine.Update(c.ID, func(fc *enginetest.Container) { fc.PID = c.PID })
				e.fw.Replace(ns, gen.ID)
				return c
			},
			wantWrite: true,
		},
		{
			// As above, with another container in the reused namespace.
			name: "other container in a namespace with the same identity and generation",
			do: func(e *testEnv, c enginetest.Container) enginetest.Container {
				ns := e.nsOf(c)
				gen := e.ctrl.applied[ns].gen
				e.nss.KillPID(c.PID)
				e.engine.Delete(c.ID)
				next := e.start("web2", webLabels)
				e.nss.SetPID(next.PID, ns)
				e.fw.Replace(ns, gen.ID)
				return next
			},
			wantWrite: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, web := steadyEnv(t)
			web = tt.do(e, web)
			e.resetLogs()
			reads, writes := e.fw.Reads(), len(e.fw.Writes())
			e.cycle()
			if e.fw.Reads() == reads {
				t.Fatal("the namespace was not read")
			}
			if got := len(e.fw.Writes()) - writes; (got == 1) != tt.wantWrite || got > 1 {
				t.Errorf("%d writes, want write=%v", got, tt.wantWrite)
			}
			if got := len(e.entries(zapcore.WarnLevel, "drift repaired")); (got == 1) != tt.wantDrift {
				t.Errorf("%d drift warnings, want drift=%v", got, tt.wantDrift)
			}
			want := policyTable(t, webLabels, web.ID)
			if tt.want != nil {
				want = tt.want(t, web)
			}
			if got := e.table(web); got != want {
				t.Errorf("table:\n%s\nwant:\n%s", got, want)
			}
			// Then steady again: the next cycle reads nothing.
			reads, skips := e.fw.Reads(), e.fw.Skips()
			e.cycle()
			if e.fw.Reads() != reads || e.fw.Skips() != skips+1 {
				t.Errorf("cycle after the repair: %d reads, %d skips; want 0, 1", e.fw.Reads()-reads, e.fw.Skips()-skips)
			}
		})
	}
}

// Any event about a container drops the generation remembered for its
// namespace: the next cycle that enforces there reads it. (After a die the
// container counts as stopped, so only the forgetting is checked.)
func TestGenerationForgottenOnEvent(t *testing.T) {
	for _, kind := range []engine.EventKind{engine.EventDie, engine.EventStart, engine.EventRestart, engine.EventNetworkDisconnect} {
		t.Run(kind.String(), func(t *testing.T) {
			e, web := steadyEnv(t)
			e.ctrl.absorb([]engine.Event{{Kind: kind, ContainerID: web.ID}})
			if e.ctrl.applied[e.nsOf(web)].gen.Known {
				t.Fatal("generation still remembered after the event")
			}
			if kind == engine.EventDie {
				return
			}
			reads := e.fw.Reads()
			e.cycle()
			if e.fw.Reads() != reads+1 {
				t.Errorf("%d reads after the event, want 1", e.fw.Reads()-reads)
			}
		})
	}
}

// A namespace whose members' processes are not known (the sandbox path
// writes before the process exists: PID 0) is always read, even with the
// same desired table and an unmoved generation.
func TestGenerationNeedsProcesses(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	ns, err := e.nss.OpenPID(web.PID)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	p, err := labels.Parse(webLabels)
	if err != nil {
		t.Fatal(err)
	}
	want, err := wantPolicy(p, web.ID)
	if err != nil {
		t.Fatal(err)
	}
	ctr := engine.Container{ID: web.ID, Names: []string{web.Name}, Labels: webLabels}
	g := &nsGroup{ns: ns, members: []member{{ctr: ctr, policy: p}}}
	for i := range 3 {
		reads := e.fw.Reads()
		if _, ok := e.ctrl.enforce(g, ctr, want); !ok {
			t.Fatalf("enforce %d failed", i+1)
		}
		if e.fw.Reads() != reads+1 || e.fw.Skips() != 0 {
			t.Fatalf("enforce %d without a PID: %d reads, %d skips; want 1 read, no skip", i+1, e.fw.Reads()-reads, e.fw.Skips())
		}
	}
	// With the process known, the same namespace is skipped from the
	// second time on.
	g.members[0].pid = web.PID
	e.ctrl.enforce(g, ctr, want)
	e.ctrl.enforce(g, ctr, want)
	if e.fw.Skips() != 1 {
		t.Errorf("%d skips with the process known, want 1", e.fw.Skips())
	}
}
