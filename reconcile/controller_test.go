package reconcile

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/dcfw/dcfw/engine/enginetest"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
)

func TestNewContainerIsProtected(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	e.start("plain", map[string]string{"com.example": "x"}) // unmanaged: never opened

	st := e.cycle()
	if st.Containers != 2 || st.Managed != 1 || st.Changed != 1 || st.Errors != 0 {
		t.Errorf("stats = %+v, want 2 containers, 1 managed, 1 changed, 0 errors", st)
	}
	if got, want := e.table(web), policyTable(t, webLabels, web.ID); got != want {
		t.Errorf("table in web's namespace:\n%s\nwant:\n%s", got, want)
	}
	if n := e.nss.Opens(); n != 1 {
		t.Errorf("opened %d namespaces, want 1 (unmanaged containers are not opened)", n)
	}
	applied := e.entries(zapcore.InfoLevel, "protection applied")
	if len(applied) != 1 {
		t.Fatalf("want one 'protection applied' line, got %d", len(applied))
	}
	// writes: as many as a first apply of the table sends the kernel.
	p, _ := labels.Parse(webLabels)
	tbl, _ := nft.Compile(p, web.ID)
	first, _ := (&nft.Memory{}).Apply(tbl, false)
	m := applied[0].ContextMap()
	for k, want := range map[string]any{
		"container": "web", "id": web.ID[:12], "mode": "policy",
		"input": "deny", "input_rules": int64(2), "output": "deny", "output_rules": int64(1),
		"writes": int64(first.Writes), "created": true,
	} {
		if m[k] != want {
			t.Errorf("log field %s = %v (%T), want %v", k, m[k], m[k], want)
		}
	}
	if _, ok := m["duration"]; !ok {
		t.Error("log line has no duration")
	}
}

func TestSteadyStateWritesAndInspectsNothing(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	e.cycle()
	writes, inspects := len(e.fw.Writes()), e.engine.Inspects(web.ID)
	e.resetLogs()

	for range 3 {
		st := e.cycle()
		if st.Changed != 0 || st.Errors != 0 || st.Managed != 1 {
			t.Errorf("steady cycle stats = %+v", st)
		}
	}
	if got := len(e.fw.Writes()); got != writes {
		t.Errorf("steady cycles wrote %d times", got-writes)
	}
	if got := e.engine.Inspects(web.ID); got != inspects {
		t.Errorf("steady cycles inspected the container %d more times; the cache should answer", got-inspects)
	}
	e.noLogsAbove(zapcore.DebugLevel)
}

func TestDisabledOrUnlabelledRemovesTable(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		msg    string
	}{
		{"dcfw.enable=false", disabledLabels, "protection removed (dcfw.enable=false)"},
		{"labels removed", map[string]string{}, "protection removed: no container in the namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			web := e.start("web", webLabels)
			e.cycle()
			if e.table(web) == "" {
				t.Fatal("no table after the first cycle")
			}
			e.engine.Update(web.ID, func(c *enginetest.Container) { c.Labels = tt.labels })
			st := e.cycle()
			if e.table(web) != "" {
				t.Errorf("table still there")
			}
			if st.Removed != 1 || st.Errors != 0 {
				t.Errorf("stats = %+v, want 1 removed", st)
			}
			if len(e.entries(zapcore.InfoLevel, tt.msg)) != 1 {
				t.Errorf("want one info line %q; logs: %v", tt.msg, e.logs.All())
			}
			e.resetLogs()
			if st := e.cycle(); st.Removed != 0 || st.Changed != 0 {
				t.Errorf("second cycle after removal: %+v", st)
			}
			e.noLogsAbove(zapcore.DebugLevel)
		})
	}
}

func TestDisabledWithoutTableWritesNothing(t *testing.T) {
	e := newTestEnv(t)
	e.start("off", disabledLabels)
	st := e.cycle()
	if st.Managed != 0 || st.Removed != 0 || st.Errors != 0 || len(e.fw.Writes()) != 0 {
		t.Errorf("stats %+v, writes %v", st, e.fw.Writes())
	}
}

func TestSharedNamespace(t *testing.T) {
	t.Run("equal labels: one table, owner's prefix", func(t *testing.T) {
		e := newTestEnv(t)
		owner := e.start("app", webLabels)
		side := e.start("sidecar", webLabels, joining(owner))
		st := e.cycle()
		if st.Managed != 1 || st.Changed != 1 || st.Errors != 0 {
			t.Errorf("stats = %+v, want one managed namespace", st)
		}
		if got, want := e.table(side), policyTable(t, webLabels, owner.ID); got != want {
			t.Errorf("table:\n%s\nwant (owner's prefix):\n%s", got, want)
		}
		if len(e.fw.Writes()) != 1 {
			t.Errorf("writes = %d, want 1", len(e.fw.Writes()))
		}
		if l := e.entries(zapcore.InfoLevel, "protection applied"); len(l) != 1 || field(l[0], "container") != "app" {
			t.Errorf("want one applied line naming the owner, got %v", l)
		}
	})
	t.Run("only the joined container is labelled: owner's prefix", func(t *testing.T) {
		e := newTestEnv(t)
		owner := e.start("app", nil)
		side := e.start("sidecar", webLabels, joining(owner))
		e.cycle()
		if got, want := e.table(side), policyTable(t, webLabels, owner.ID); got != want {
			t.Errorf("table:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("different labels: lockdown, both named", func(t *testing.T) {
		e := newTestEnv(t)
		owner := e.start("app", webLabels)
		e.start("sidecar", openLabels, joining(owner))
		st := e.cycle()
		if st.Errors != 1 {
			t.Errorf("errors = %d, want 1", st.Errors)
		}
		if got, want := e.table(owner), lockdownTable(owner.ID); got != want {
			t.Errorf("table:\n%s\nwant lockdown:\n%s", got, want)
		}
		errs := e.entries(zapcore.ErrorLevel, "labels differ")
		if len(errs) != 1 {
			t.Fatalf("want one conflict error, got %v", e.logs.All())
		}
		text := errs[0].Message + " " + field(errs[0], "container").(string) + " " + field(errs[0], "other").(string)
		for _, name := range []string{"app", "sidecar"} {
			if !strings.Contains(text, name) {
				t.Errorf("conflict error does not name %s: %s", name, text)
			}
		}
		// Rate-limited: the same conflict is not logged again next cycle,
		// but still counted.
		e.resetLogs()
		if st := e.cycle(); st.Errors != 1 || st.Changed != 0 {
			t.Errorf("second cycle: %+v", st)
		}
		e.noLogsAbove(zapcore.InfoLevel)
	})
	t.Run("enabled and disabled: lockdown", func(t *testing.T) {
		e := newTestEnv(t)
		owner := e.start("app", webLabels)
		e.start("sidecar", disabledLabels, joining(owner))
		if st := e.cycle(); st.Errors != 1 {
			t.Errorf("errors = %d, want 1", st.Errors)
		}
		if got, want := e.table(owner), lockdownTable(owner.ID); got != want {
			t.Errorf("table:\n%s\nwant lockdown", got)
		}
	})
}

func TestHostNetworkIsNeverTouched(t *testing.T) {
	t.Run("network_mode host", func(t *testing.T) {
		e := newTestEnv(t)
		h := e.start("hosty", webLabels, hostNetwork)
		st := e.cycle()
		if st.Errors != 1 || st.Managed != 0 {
			t.Errorf("stats = %+v, want 1 error, 0 managed", st)
		}
		if e.nss.Opens() != 0 || e.fw.Calls() != 0 {
			t.Errorf("opened %d namespaces, %d firewall calls; want none", e.nss.Opens(), e.fw.Calls())
		}
		if e.engine.Inspects(h.ID) != 0 {
			t.Errorf("inspected a host-mode container: the list already says host")
		}
		if l := e.entries(zapcore.ErrorLevel, "host's network namespace"); len(l) != 1 || field(l[0], "container") != "hosty" {
			t.Errorf("want one error naming the container, got %v", e.logs.All())
		}
	})
	t.Run("namespace is the host's although the mode is not host", func(t *testing.T) {
		e := newTestEnv(t)
		c := e.start("sneaky", webLabels)
		e.nss.SetPID(c.PID, hostNS) // e.g. container:X where X runs with host networking
		st := e.cycle()
		if st.Errors != 1 || e.fw.Calls() != 0 {
			t.Errorf("stats = %+v, firewall calls %d; want 1 error, no calls", st, e.fw.Calls())
		}
		if len(e.entries(zapcore.ErrorLevel, "host's network namespace")) != 1 {
			t.Errorf("no error logged: %v", e.logs.All())
		}
	})
	t.Run("host mode with dcfw disabled is fine", func(t *testing.T) {
		e := newTestEnv(t)
		e.start("hosty", disabledLabels, hostNetwork)
		if st := e.cycle(); st.Errors != 0 {
			t.Errorf("stats = %+v", st)
		}
		e.noLogsAbove(zapcore.DebugLevel)
	})
}

func TestContainerDisappearingMidReconcile(t *testing.T) {
	tests := []struct {
		name   string
		vanish func(e *testEnv, c enginetest.Container)
	}{
		{"removed before inspect", func(e *testEnv, c enginetest.Container) {
			e.engine.Update(c.ID, func(fc *enginetest.Container) { fc.Vanished = true })
		}},
		{"stopped before inspect", func(e *testEnv, c enginetest.Container) {
			e.engine.Update(c.ID, func(fc *enginetest.Container) { fc.Exited = true })
		}},
		{"process exited before the namespace was opened", func(e *testEnv, c enginetest.Container) {
			e.nss.KillPID(c.PID)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			gone := e.start("gone", webLabels)
			web := e.start("web", webLabels)
			tt.vanish(e, gone)
			st := e.cycle()
			if st.Errors != 0 || st.Managed != 1 {
				t.Errorf("stats = %+v, want 0 errors, 1 managed", st)
			}
			if e.table(web) == "" {
				t.Error("the other container was not protected")
			}
			e.noLogsAbove(zapcore.InfoLevel)
			if len(e.entries(zapcore.DebugLevel, "gone")) == 0 && len(e.entries(zapcore.DebugLevel, "exited")) == 0 &&
				len(e.entries(zapcore.DebugLevel, "not running")) == 0 {
				t.Errorf("no debug line about the vanished container: %v", e.logs.All())
			}
		})
	}
}

func TestStaleCachedPIDIsReinspected(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	e.cycle()
	before := e.engine.Inspects(web.ID)
	// The container restarts, and no event arrives (yet): the cached PID
	// is gone, so the namespace cannot be opened through it.
	web = e.restart(web)
	e.resetLogs()
	st := e.cycle()
	if st.Errors != 0 || st.Changed != 1 {
		t.Errorf("stats = %+v, want the new namespace protected without errors", st)
	}
	if e.engine.Inspects(web.ID) != before+1 {
		t.Errorf("inspects %d → %d, want one re-inspect", before, e.engine.Inspects(web.ID))
	}
	if got, want := e.table(web), policyTable(t, webLabels, web.ID); got != want {
		t.Errorf("new namespace table:\n%s", got)
	}
	// A new namespace is a first sight, not drift.
	if len(e.entries(zapcore.WarnLevel, "drift")) != 0 {
		t.Error("a restart was reported as drift")
	}
}

func TestApplyFailureIsRetriedNextCycle(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	ns := e.nsOf(web)
	e.fw.Fail(ns, errors.New("EPERM"))

	st := e.cycle()
	if st.Errors != 1 || st.Changed != 0 {
		t.Errorf("failing cycle stats = %+v", st)
	}
	if l := e.entries(zapcore.ErrorLevel, "retrying next cycle"); len(l) != 1 || field(l[0], "container") != "web" {
		t.Fatalf("want one error naming web, got %v", e.logs.All())
	}
	e.resetLogs()
	e.clock.Advance(time.Minute)
	if st := e.cycle(); st.Errors != 1 {
		t.Errorf("second failing cycle stats = %+v", st)
	}
	// A namespace whose rules cannot be made what the labels say is not
	// rate-limited: logged in every cycle.
	if l := e.entries(zapcore.ErrorLevel, "retrying next cycle"); len(l) != 1 {
		t.Errorf("second failing cycle: want the error again, got %v", e.logs.All())
	}

	e.fw.Fail(ns, nil)
	e.resetLogs()
	st = e.cycle()
	if st.Errors != 0 || st.Changed != 1 {
		t.Errorf("recovered cycle stats = %+v", st)
	}
	if got, want := e.table(web), policyTable(t, webLabels, web.ID); got != want {
		t.Errorf("table after retry:\n%s", got)
	}
	if len(e.entries(zapcore.InfoLevel, "protection applied")) != 1 {
		t.Errorf("no 'applied' line after the retry: %v", e.logs.All())
	}
	// A new failure after recovery is logged at once.
	e.fw.Fail(ns, errors.New("EBUSY"))
	e.fw.Delete(ns)
	e.resetLogs()
	e.cycle()
	if len(e.entries(zapcore.ErrorLevel, "retrying next cycle")) != 1 {
		t.Errorf("a new failure was not logged: %v", e.logs.All())
	}
}

func TestDriftOrChange(t *testing.T) {
	tests := []struct {
		name      string
		do        func(e *testEnv, c enginetest.Container) enginetest.Container
		wantWarn  bool
		wantInfo  string
		wantTable func(t *testing.T, c enginetest.Container) string
	}{
		{
			name: "table deleted inside the namespace",
			do: func(e *testEnv, c enginetest.Container) enginetest.Container {
				e.fw.Delete(e.nsOf(c))
				return c
			},
			wantWarn: true,
		},
		{
			name: "table altered inside the namespace",
			do: func(e *testEnv, c enginetest.Container) enginetest.Container {
				e.fw.Tamper(e.nsOf(c), emptyTable)
				return c
			},
			wantWarn: true,
		},
		{
			name: "labels changed",
			do: func(e *testEnv, c enginetest.Container) enginetest.Container {
				e.engine.Update(c.ID, func(fc *enginetest.Container) { fc.Labels = openLabels })
				return c
			},
			wantInfo: "protection changed",
			wantTable: func(t *testing.T, c enginetest.Container) string {
				return policyTable(t, openLabels, c.ID)
			},
		},
		{
			name: "container restarted into a namespace with the same identity",
			do: func(e *testEnv, c enginetest.Container) enginetest.Container {
				// The kernel reuses namespace inode numbers: same ID, new
				// process, empty namespace.
				ns := e.nsOf(c)
				e.nss.KillPID(c.PID)
				c.PID += 500
				e.nss.SetPID(c.PID, ns)
				e.engine.Update(c.ID, func(fc *enginetest.Container) { fc.PID = c.PID })
				e.fw.Delete(ns)
				return c
			},
			wantInfo: "protection applied",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			web := e.start("web", webLabels)
			e.cycle()
			web = tt.do(e, web)
			e.resetLogs()
			st := e.cycle()
			if st.Changed != 1 {
				t.Errorf("stats = %+v, want 1 changed", st)
			}
			warns := e.entries(zapcore.WarnLevel, "drift repaired")
			if tt.wantWarn {
				if len(warns) != 1 {
					t.Fatalf("want one drift warning, got %v", e.logs.All())
				}
				if d, _ := field(warns[0], "differences").([]any); len(d) == 0 {
					t.Errorf("drift warning without differences: %v", warns[0].ContextMap())
				}
			} else if len(warns) != 0 {
				t.Errorf("a change was reported as drift: %v", warns)
			}
			if tt.wantInfo != "" && len(e.entries(zapcore.InfoLevel, tt.wantInfo)) != 1 {
				t.Errorf("want info %q, got %v", tt.wantInfo, e.logs.All())
			}
			want := policyTable(t, webLabels, web.ID)
			if tt.wantTable != nil {
				want = tt.wantTable(t, web)
			}
			if got := e.table(web); got != want {
				t.Errorf("table after repair:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.DryRun = true })
	web := e.start("web", webLabels)
	off := e.start("off", disabledLabels)
	bad := e.start("bad", badLabels)
	e.fw.Tamper(e.nsOf(off), emptyTable) // would be removed

	st := e.cycle()
	if st.Changed != 2 || st.Removed != 1 || st.Errors != 1 {
		t.Errorf("stats = %+v, want 2 would-change (web, bad), 1 would-remove, 1 error", st)
	}
	if w := e.fw.Writes(); len(w) != 0 {
		t.Errorf("dry run wrote: %v", w)
	}
	if e.table(web) != "" || e.table(bad) != "" || e.table(off) == "" {
		t.Error("dry run changed a namespace")
	}
	if n := len(e.entries(zapcore.InfoLevel, "dry run: would")); n != 3 {
		t.Errorf("want 3 'dry run: would' lines, got %d: %v", n, e.logs.All())
	}
	// Nothing changes between dry cycles, so nothing is logged again.
	e.resetLogs()
	e.cycle()
	if n := len(e.entries(zapcore.InfoLevel, "dry run: would")); n != 0 {
		t.Errorf("repeated dry-run lines: %d", n)
	}
}

func TestLabelErrors(t *testing.T) {
	t.Run("lockdown by default, error names label and rule", func(t *testing.T) {
		e := newTestEnv(t)
		bad := e.start("bad", badLabels)
		st := e.cycle()
		if st.Errors != 1 || st.Managed != 1 {
			t.Errorf("stats = %+v, want 1 error, 1 managed (locked down)", st)
		}
		if got, want := e.table(bad), lockdownTable(bad.ID); got != want {
			t.Errorf("table:\n%s\nwant lockdown:\n%s", got, want)
		}
		errs := e.entries(zapcore.ErrorLevel, "invalid dcfw labels")
		if len(errs) != 1 {
			t.Fatalf("want one label error line, got %v", e.logs.All())
		}
		lines, _ := field(errs[0], "errors").([]any)
		if len(lines) != 1 {
			t.Fatalf("errors field = %v", field(errs[0], "errors"))
		}
		s := lines[0].(string)
		for _, want := range []string{"dcfw.input.rule.1", "allow proto tcp frm 10.0.0.1", "frm"} {
			if !strings.Contains(s, want) {
				t.Errorf("label error %q does not contain %q", s, want)
			}
		}
		if field(errs[0], "container") != "bad" {
			t.Errorf("label error does not name the container: %v", errs[0].ContextMap())
		}
		if l := e.entries(zapcore.InfoLevel, "protection applied"); len(l) != 1 || field(l[0], "mode") != "lockdown" {
			t.Errorf("want an applied line in lockdown mode: %v", l)
		}
	})
	t.Run("skip leaves the namespace untouched", func(t *testing.T) {
		e := newTestEnv(t, func(c *Config) { c.OnError = Skip })
		bad := e.start("bad", badLabels)
		e.fw.Tamper(e.nsOf(bad), emptyTable)
		st := e.cycle()
		if st.Errors != 1 || e.fw.Calls() != 0 {
			t.Errorf("stats = %+v, firewall calls %d; want 1 error and no calls", st, e.fw.Calls())
		}
		if e.table(bad) != emptyTable(nil).String() {
			t.Error("skip changed the namespace")
		}
		if l := e.entries(zapcore.ErrorLevel, "--on-error=skip"); len(l) != 1 {
			t.Errorf("want one error saying the container is left untouched: %v", e.logs.All())
		}
	})
	t.Run("logged once per change, again after the repeat interval", func(t *testing.T) {
		e := newTestEnv(t)
		e.start("bad", badLabels)
		count := func() int { return len(e.entries(zapcore.ErrorLevel, "invalid dcfw labels")) }
		e.cycle()
		e.clock.Advance(time.Minute)
		e.cycle()
		if count() != 1 {
			t.Errorf("logged %d times within the repeat interval, want 1", count())
		}
		e.clock.Advance(10 * time.Minute)
		e.cycle()
		if count() != 2 {
			t.Errorf("logged %d times after the repeat interval, want 2", count())
		}
	})
	t.Run("stray dcfw labels without dcfw.enable warn", func(t *testing.T) {
		e := newTestEnv(t)
		e.start("typo", map[string]string{"dcfw.enabel": "true"})
		if st := e.cycle(); st.Managed != 0 || st.Errors != 0 {
			t.Errorf("stats = %+v", st)
		}
		if l := e.entries(zapcore.WarnLevel, "no dcfw.enable"); len(l) != 1 {
			t.Errorf("want a warning about the ignored label: %v", e.logs.All())
		}
	})
}

func TestOnceStats(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(e *testEnv)
		wantErrors bool
	}{
		{"all protected", func(e *testEnv) { e.start("web", webLabels) }, false},
		{"nothing managed", func(e *testEnv) { e.start("plain", nil) }, false},
		{"label error", func(e *testEnv) { e.start("bad", badLabels) }, true},
		{"host network", func(e *testEnv) { e.start("h", webLabels, hostNetwork) }, true},
		{"write fails", func(e *testEnv) {
			c := e.start("web", webLabels)
			e.fw.Fail(e.nsOf(c), errors.New("EPERM"))
		}, true},
		{"namespace cannot be opened", func(e *testEnv) {
			c := e.start("web", webLabels)
			e.nss.FailPID(c.PID, netnsutil.ErrPermission)
		}, true},
		{"vanished container", func(e *testEnv) {
			c := e.start("web", webLabels)
			e.engine.Update(c.ID, func(fc *enginetest.Container) { fc.Vanished = true })
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			tt.setup(e)
			st := e.cycle()
			if (st.Errors > 0) != tt.wantErrors {
				t.Errorf("errors = %d, want errors: %v", st.Errors, tt.wantErrors)
			}
		})
	}
	t.Run("engine unreachable", func(t *testing.T) {
		e := newTestEnv(t)
		e.engine.FailList(errors.New("connection refused"))
		if _, err := e.ctrl.Once(t.Context()); err == nil {
			t.Error("Once succeeded without an engine")
		}
	})
}

// A namespace the kernel refuses to open is an error that says which
// privileges it takes, not just EPERM.
func TestPermissionErrorNamesCapabilities(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	e.nss.FailPID(web.PID, netnsutil.ErrPermission)
	if st := e.cycle(); st.Errors != 1 {
		t.Fatalf("stats = %+v, want one error", st)
	}
	var found bool
	for _, l := range e.logs.FilterMessageSnippet("cannot open the container's network namespace").All() {
		hint, _ := l.ContextMap()["hint"].(string)
		found = found || (strings.Contains(hint, "CAP_SYS_PTRACE") && strings.Contains(hint, "CAP_SYS_ADMIN"))
	}
	if !found {
		t.Errorf("no error naming CAP_SYS_PTRACE and CAP_SYS_ADMIN: %v", e.logs.All())
	}
}

func TestPermissionFallsBackToSandbox(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	ns := e.nsOf(web)
	e.engine.Update(web.ID, func(fc *enginetest.Container) { fc.SandboxKey = "/var/run/docker/netns/abc" })
	e.nss.SetSandbox("/var/run/docker/netns/abc", ns)
	e.nss.FailPID(web.PID, netnsutil.ErrPermission)
	if st := e.cycle(); st.Errors != 0 || st.Changed != 1 {
		t.Errorf("stats = %+v", st)
	}
	if got, _ := e.fw.Table(ns); got == "" {
		t.Error("not protected through the sandbox file")
	}
}

// When the sandbox file cannot stand in for /proc either, the error says
// why, beside the /proc error.
func TestPermissionErrorNamesTheSandboxFileError(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	e.engine.Update(web.ID, func(fc *enginetest.Container) { fc.SandboxKey = "/var/run/docker/netns/gone" })
	e.nss.FailPID(web.PID, netnsutil.ErrPermission)
	if st := e.cycle(); st.Errors != 1 {
		t.Fatalf("stats = %+v, want one error", st)
	}
	lines := e.logs.FilterMessageSnippet("cannot open the container's network namespace").All()
	if len(lines) != 1 {
		t.Fatalf("error lines: %v", e.logs.All())
	}
	if got := fmt.Sprint(lines[0].ContextMap()["sandbox_error"]); !strings.Contains(got, "/var/run/docker/netns/gone") {
		t.Errorf("sandbox_error %q, want the sandbox file's error", got)
	}
}

func TestScopeLeavesOthersAlone(t *testing.T) {
	scope := Scope{Key: "run", Value: "mine", HasValue: true}
	e := newTestEnv(t, func(c *Config) { c.Scope = scope })
	mineLabels := map[string]string{"run": "mine"}
	for k, v := range webLabels {
		mineLabels[k] = v
	}
	mine := e.start("mine", mineLabels)
	theirs := e.start("theirs", webLabels)
	hostTheirs := e.start("their-host", webLabels, hostNetwork)
	st := e.cycle()
	if st.Containers != 1 || st.Managed != 1 || st.Errors != 0 {
		t.Errorf("stats = %+v, want 1 container in scope, managed, no errors", st)
	}
	if e.table(mine) == "" || e.table(theirs) != "" {
		t.Error("scope not respected")
	}
	if e.engine.Inspects(theirs.ID) != 0 || e.engine.Inspects(hostTheirs.ID) != 0 {
		t.Error("containers out of scope were inspected")
	}
}

func TestDryRunCycleSummaryIsQuiet(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.DryRun = true })
	e.start("web", webLabels)
	e.cycle()
	e.resetLogs()
	if st := e.cycle(); st.Changed != 1 {
		t.Errorf("stats = %+v, want the pending change counted", st)
	}
	e.noLogsAbove(zapcore.DebugLevel)
}
