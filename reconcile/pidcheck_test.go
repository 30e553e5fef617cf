package reconcile

import (
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/dcfw/dcfw/engine/enginetest"
	"github.com/dcfw/dcfw/netnsutil"
)

// withSandbox gives the container a sandbox file holding its namespace.
func withSandbox(key string) ctrOpt {
	return func(e *testEnv, c *enginetest.Container) {
		c.SandboxKey = key
		id, _ := e.nss.Lookup(c.PID)
		e.nss.SetSandbox(key, id)
	}
}

var strangerNS = netnsutil.ID{Dev: 4, Ino: 4026539999}

func TestPIDInAnotherNamespaceThanTheSandboxIsRefused(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels, withSandbox("/var/run/docker/netns/web"))
	e.cycle()
	if e.table(web) == "" {
		t.Fatal("not protected")
	}
	writes := len(e.fw.Writes())

	// The PID is another process's now, in another namespace; the engine
	// (still) says the container runs as that PID.
	e.nss.SetPID(web.PID, strangerNS)
	e.resetLogs()
	for range 2 {
		if st := e.cycle(); st.Errors == 0 {
			t.Errorf("stats %+v, want the container counted as an error", st)
		}
	}
	if _, ok := e.fw.Table(strangerNS); ok || len(e.fw.Writes()) != writes {
		t.Errorf("wrote into a namespace that is not the container's: %v", e.fw.Writes()[writes:])
	}
	l := e.entries(zapcore.ErrorLevel, "not the container's sandbox")
	if len(l) != 1 || field(l[0], "container") != "web" {
		t.Errorf("want one error naming web in two cycles, got %v", e.logs.All())
	}
}

func TestReusedPIDOfARestartedContainerIsInspectedAgain(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels, withSandbox("/var/run/docker/netns/one"))
	e.cycle()
	old := web.PID

	// The container restarted (new process, namespace and sandbox file)
	// and its events are not here yet; its old PID is another process's.
	web = e.restart(web)
	e.nss.SetPID(old, strangerNS)
	e.engine.Update(web.ID, func(c *enginetest.Container) { c.SandboxKey = "/var/run/docker/netns/two" })
	e.nss.SetSandbox("/var/run/docker/netns/two", e.nsOf(web))
	e.resetLogs()
	if st := e.cycle(); st.Errors != 0 {
		t.Errorf("stats %+v", st)
	}
	if got, want := e.table(web), policyTable(t, webLabels, web.ID); got != want {
		t.Errorf("new namespace:\n%s\nwant:\n%s", got, want)
	}
	if _, ok := e.fw.Table(strangerNS); ok {
		t.Error("wrote into the namespace of the process that reused the PID")
	}
}

// A sandbox file dcfw cannot see (--netns-dir not mounted, or not the
// engine's) cannot be checked: the container is protected as before, and
// steady cycles still do not ask the engine.
func TestSandboxFileNotVisibleIsNotChecked(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels)
	e.engine.Update(web.ID, func(c *enginetest.Container) { c.SandboxKey = "/elsewhere/netns/web" })
	if st := e.cycle(); st.Errors != 0 || e.table(web) == "" {
		t.Fatalf("stats %+v, table %q", st, e.table(web))
	}
	inspects := e.engine.Inspects(web.ID)
	e.cycle()
	if n := e.engine.Inspects(web.ID) - inspects; n != 0 {
		t.Errorf("a steady cycle inspected %d times", n)
	}
}
