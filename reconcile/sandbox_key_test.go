package reconcile

import (
	"fmt"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/dcfw/dcfw/engine/enginetest"
	"github.com/dcfw/dcfw/netnsutil"
)

// fakeSandboxKeys is the sandbox mode's Namespaces on fakeNamespaces: a
// process's namespace is its PID's there, its container the one set in
// owners (any, when unset). OpenPID must not be called: the sandbox mode
// opens nothing by PID while the engine answers.
type fakeSandboxKeys struct {
	*fakeNamespaces
	owners   map[int]string
	pidOpens int
}

var _ SandboxKeyNamespaces = (*fakeSandboxKeys)(nil)

func (f *fakeSandboxKeys) OpenPID(pid int) (Namespace, error) {
	f.pidOpens++
	return nil, fmt.Errorf("pid %d: %w", pid, netnsutil.ErrPermission)
}

func (f *fakeSandboxKeys) CheckProcess(pid int, id string, ns Namespace) error {
	in, ok := f.Lookup(pid)
	if !ok {
		return fmt.Errorf("pid %d: %w", pid, netnsutil.ErrNotFound)
	}
	if in != ns.ID() {
		return fmt.Errorf("%w: pid %d in %s", errNotSandbox, pid, in)
	}
	if owner, ok := f.owners[pid]; ok && owner != id {
		return fmt.Errorf("%w: pid %d belongs to %s", errNotSandbox, pid, owner)
	}
	return nil
}

// newSandboxKeyEnv is a testEnv in sandbox mode.
func newSandboxKeyEnv(t *testing.T) (*testEnv, *fakeSandboxKeys) {
	var sk *fakeSandboxKeys
	e := newTestEnv(t, func(c *Config) {
		sk = &fakeSandboxKeys{fakeNamespaces: c.Namespaces.(*fakeNamespaces), owners: map[int]string{}}
		c.Namespaces = sk
	})
	return e, sk
}

// In sandbox mode a running container is protected through its
// SandboxKey, one that joins another's namespace (container:X, no
// SandboxKey of its own) through X's, and the log names the path.
func TestSandboxModeOpensBySandboxKey(t *testing.T) {
	e, sk := newSandboxKeyEnv(t)
	web := e.start("web", webLabels, withSandbox("/var/run/docker/netns/web"))
	side := e.start("side", webLabels, joining(web))
	if st := e.cycle(); st.Errors != 0 || st.Managed != 1 { // one namespace
		t.Fatalf("stats %+v; logs %v", st, e.logs.All())
	}
	if e.table(web) == "" || e.nsOf(side) != e.nsOf(web) {
		t.Fatalf("web's namespace not protected: %q", e.table(web))
	}
	if sk.pidOpens != 0 {
		t.Errorf("%d namespaces opened by PID in sandbox mode", sk.pidOpens)
	}
	l := e.entries(zapcore.InfoLevel, "protection applied")
	if len(l) != 1 || field(l[0], "path") != pathSandboxKey {
		t.Errorf("want one protection applied with path %s, got %v", pathSandboxKey, l)
	}
}

// The host's namespace is never written to, however the container
// reaches it: host mode, a join of a host-mode container, a sandbox file
// that holds it (refused by the Namespaces, or only known by identity).
func TestSandboxModeRefusesTheHost(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(e *testEnv, sk *fakeSandboxKeys) enginetest.Container
	}{
		{"host mode", func(e *testEnv, _ *fakeSandboxKeys) enginetest.Container {
			return e.start("web", webLabels, hostNetwork)
		}},
		{"joins a host-mode container", func(e *testEnv, _ *fakeSandboxKeys) enginetest.Container {
			h := e.start("h", nil, hostNetwork)
			return e.start("web", webLabels, joining(h))
		}},
		{"sandbox file holds the host's namespace", func(e *testEnv, _ *fakeSandboxKeys) enginetest.Container {
			return e.start("web", webLabels, func(e *testEnv, c *enginetest.Container) {
				e.nss.SetPID(c.PID, hostNS)
				c.SandboxKey = "/var/run/docker/netns/x"
				e.nss.SetSandbox(c.SandboxKey, hostNS)
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, sk := newSandboxKeyEnv(t)
			tc.setup(e, sk)
			if st := e.cycle(); st.Errors != 1 {
				t.Errorf("stats %+v, want the container counted as an error", st)
			}
			if w := e.fw.Writes(); len(w) != 0 {
				t.Errorf("writes %v", w)
			}
			if l := e.entries(zapcore.ErrorLevel, "container shares the host's network namespace; dcfw never changes the host's firewall, so it is NOT protected"); len(l) != 1 {
				t.Errorf("want the host refusal logged once, got %v", e.logs.All())
			}
		})
	}
}

// The process the engine names must run in the sandbox file's namespace
// and belong to the container; otherwise nothing is written. A gone
// process is churn, not an error.
func TestSandboxModeChecksTheProcess(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(e *testEnv, sk *fakeSandboxKeys, c enginetest.Container)
		errs   int
		logged string
	}{
		{"elsewhere", func(e *testEnv, _ *fakeSandboxKeys, c enginetest.Container) { e.nss.SetPID(c.PID, strangerNS) },
			1, "the container's process does not run in its sandbox file's namespace; nothing written, tried again next cycle"},
		{"another container's", func(_ *testEnv, sk *fakeSandboxKeys, c enginetest.Container) { sk.owners[c.PID] = containerID("other") },
			1, "the container's process does not run in its sandbox file's namespace; nothing written, tried again next cycle"},
		{"gone", func(e *testEnv, _ *fakeSandboxKeys, c enginetest.Container) { e.nss.KillPID(c.PID) }, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, sk := newSandboxKeyEnv(t)
			web := e.start("web", webLabels, withSandbox("/var/run/docker/netns/web"))
			tc.break_(e, sk, web)
			if st := e.cycle(); st.Errors != tc.errs {
				t.Errorf("stats %+v, want %d errors", st, tc.errs)
			}
			if w := e.fw.Writes(); len(w) != 0 {
				t.Errorf("writes %v", w)
			}
			if tc.logged != "" && len(e.entries(zapcore.ErrorLevel, tc.logged)) != 1 {
				t.Errorf("want %q logged, got %v", tc.logged, e.logs.All())
			}
		})
	}
}

// A container that restarted before its events came: the cached inspect
// names a sandbox file that is gone; the engine is asked again and the
// new namespace protected.
func TestSandboxModeStaleSandboxKeyIsInspectedAgain(t *testing.T) {
	e, _ := newSandboxKeyEnv(t)
	web := e.start("web", webLabels, withSandbox("/var/run/docker/netns/one"))
	e.cycle()
	web = e.restart(web)
	e.engine.Update(web.ID, func(c *enginetest.Container) { c.SandboxKey = "/var/run/docker/netns/two" })
	e.nss.SetSandbox("/var/run/docker/netns/two", e.nsOf(web))
	e.resetLogs()
	if st := e.cycle(); st.Errors != 0 {
		t.Errorf("stats %+v; logs %v", st, e.logs.All())
	}
	if got, want := e.table(web), policyTable(t, webLabels, web.ID); got != want {
		t.Errorf("new namespace:\n%s\nwant:\n%s", got, want)
	}
}

// A running container whose sandbox file cannot be opened is an error
// that says so (here: no such file under a fresh inspect).
func TestSandboxModeMissingSandboxFile(t *testing.T) {
	e, _ := newSandboxKeyEnv(t)
	e.start("web", webLabels, func(_ *testEnv, c *enginetest.Container) { c.SandboxKey = "/var/run/docker/netns/none" })
	if st := e.cycle(); st.Errors != 1 {
		t.Errorf("stats %+v", st)
	}
	l := e.entries(zapcore.ErrorLevel, "cannot open the container's sandbox file; it is not protected")
	if len(l) != 1 || field(l[0], "sandbox") != "/var/run/docker/netns/none" {
		t.Errorf("got %v", e.logs.All())
	}
}
