package reconcile

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/engine/enginetest"
	"github.com/dcfw/dcfw/netnsutil"
)

// An image that brings its own allow rule.
const (
	sneakyImage   = "shop/web:1"
	sneakyImageID = "sha256:5ea4"
)

var sneakyImageLabels = map[string]string{"dcfw.output.rule.0": "allow", "maintainer": "someone else"}

func TestImageLabels(t *testing.T) {
	deny := map[string]string{"dcfw.enable": "true", "dcfw.output.policy": "deny"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range deny {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name     string
		labels   map[string]string // the container's, merged with the image's as the engine does
		mode     ImageLabels
		lockdown bool
	}{
		{"label from the image", with("dcfw.output.rule.0", "allow"), ImageLabelsLockdown, true},
		{"restated with another spelling", with("dcfw.output.rule.0", "Allow"), ImageLabelsLockdown, false},
		{"overridden by the container", with("dcfw.output.rule.0", "deny log"), ImageLabelsLockdown, false},
		{"trusted", with("dcfw.output.rule.0", "allow"), ImageLabelsTrust, false},
		{"image without the label", deny, ImageLabelsLockdown, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, func(c *Config) { c.ImageLabels = tt.mode })
			e.engine.PutImage(sneakyImageID, sneakyImageLabels, sneakyImage)
			web := e.start("web", tt.labels, fromImage(sneakyImageID, sneakyImage))
			st := e.cycle()
			errLines := e.entries(zapcore.ErrorLevel, "invalid dcfw labels")
			if !tt.lockdown {
				if got, want := e.table(web), policyTable(t, tt.labels, web.ID); got != want {
					t.Errorf("table:\n%s\nwant the labels' policy:\n%s", got, want)
				}
				if st.Errors != 0 || len(errLines) != 0 {
					t.Errorf("stats %+v, errors logged %v", st, errLines)
				}
				return
			}
			if got := e.table(web); got != lockdownTable(web.ID) {
				t.Errorf("table:\n%s\nwant the lockdown", got)
			}
			if st.Errors != 1 || len(errLines) != 1 {
				t.Fatalf("stats %+v, want 1 error logged once; logs %v", st, e.logs.All())
			}
			msg := fmt.Sprint(field(errLines[0], "errors"))
			if !strings.Contains(msg, "dcfw.output.rule.0") || !strings.Contains(msg, "comes from the container's image") {
				t.Errorf("error does not name the label and the image: %s", msg)
			}
			if field(errLines[0], "image") != sneakyImage || field(errLines[0], "container") != "web" {
				t.Errorf("error line fields: %v", errLines[0].ContextMap())
			}
			// Once per change.
			e.resetLogs()
			e.cycle()
			e.noLogsAbove(zapcore.WarnLevel)
		})
	}
}

func TestImageLabelsAskedOncePerImage(t *testing.T) {
	e := newTestEnv(t)
	e.engine.PutImage(sneakyImageID, sneakyImageLabels, sneakyImage)
	e.engine.PutImage("sha256:0ther", nil)
	e.start("web1", webLabels, fromImage(sneakyImageID, sneakyImage))
	e.start("web2", webLabels, fromImage(sneakyImageID, sneakyImage))
	e.start("other", openLabels, fromImage("sha256:0ther", "other"))
	e.start("plain", map[string]string{"x": "y"}, fromImage("sha256:0ther", "other")) // unmanaged: never asked
	e.cycle()
	if n := e.engine.ImageCalls(); n != 2 {
		t.Errorf("first cycle asked for image labels %d times, want 2 (one per image of a managed container)", n)
	}
	for range 3 {
		e.cycle()
	}
	if n := e.engine.ImageCalls(); n != 2 {
		t.Errorf("steady cycles asked for image labels %d more times", n-2)
	}
	// A new label set on a known image: the image is not asked again.
	e.start("web3", openLabels, fromImage(sneakyImageID, sneakyImage))
	e.cycle()
	if n := e.engine.ImageCalls(); n != 2 {
		t.Errorf("a known image was asked again (%d calls)", n)
	}
	// Images no listed container uses are forgotten.
	for _, name := range []string{"web1", "web2", "web3"} {
		e.engine.Delete(containerID(name))
	}
	e.cycle()
	if _, ok := e.ctrl.images[sneakyImageID]; ok || len(e.ctrl.images) != 1 {
		t.Errorf("image cache after its containers left: %v", e.ctrl.images)
	}
}

func TestImageGoneLocksDown(t *testing.T) {
	e := newTestEnv(t)
	web := e.start("web", webLabels, fromImage("sha256:9one", "gone"))
	if st := e.cycle(); st.Errors != 1 {
		t.Errorf("stats %+v, want 1 error", st)
	}
	if got := e.table(web); got != lockdownTable(web.ID) {
		t.Errorf("table:\n%s\nwant the lockdown (the image's labels cannot be read)", got)
	}
	// Asked again next cycle: once it answers, the labels apply.
	e.engine.PutImage("sha256:9one", nil)
	e.cycle()
	if got, want := e.table(web), policyTable(t, webLabels, web.ID); got != want {
		t.Errorf("table once the image answers:\n%s", got)
	}
}

func TestImageLabelsOnTheSandboxPath(t *testing.T) {
	lbls := map[string]string{"dcfw.enable": "true", "dcfw.output.policy": "deny", "dcfw.output.rule.0": "allow"}
	tests := []struct {
		name     string
		image    string            // in the create event
		labels   map[string]string // the image's
		mode     ImageLabels
		lockdown bool
	}{
		{"label from the image", sneakyImage, sneakyImageLabels, ImageLabelsLockdown, true},
		{"image without it", sneakyImage, map[string]string{"maintainer": "x"}, ImageLabelsLockdown, false},
		{"trusted", sneakyImage, sneakyImageLabels, ImageLabelsTrust, false},
		{"image unknown", "no-such-image", nil, ImageLabelsLockdown, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSandboxEnv(t, func(c *Config) { c.ImageLabels = tt.mode })
			if tt.labels != nil {
				e.engine.PutImage(sneakyImageID, tt.labels, sneakyImage)
			}
			e.startRun()
			e.n++
			c := enginetest.Container{ID: containerID("web"), Name: "web", Labels: lbls, NetworkMode: "default", PID: 1000 + e.n,
				ImageID: sneakyImageID, Image: tt.image}
			e.engine.Put(c)
			attrs := map[string]string{"name": "web", "image": tt.image}
			for k, v := range lbls {
				attrs[k] = v
			}
			e.emit(engine.Event{Kind: engine.EventCreate, ContainerID: c.ID, Attributes: attrs, Time: time.Now()})
			s := &starting{Container: c, ns: netnsutil.ID{Dev: 4, Ino: 4026533000 + uint64(e.n)}, file: "sbx-web"}
			e.sandbox(s, time.Now())
			want := policyTable(t, lbls, c.ID)
			if tt.lockdown {
				want = lockdownTable(c.ID)
			}
			eventually(t, "the sandbox path's write", func() bool { return e.tableIn(s.ns) != "" })
			if got := e.tableIn(s.ns); got != want {
				t.Errorf("sandbox path wrote:\n%s\nwant:\n%s", got, want)
			}
			if l := e.applied("web"); len(l) != 1 || field(l[0], "path") != pathSandbox {
				t.Errorf("protection lines: %v", l)
			}
		})
	}
}

func TestImageLabelsOnTheSandboxPathWithOnErrorSkip(t *testing.T) {
	// --on-error=skip leaves a container with label errors untouched: the
	// sandbox path leaves it to the PID path rather than lock it down.
	lbls := map[string]string{"dcfw.enable": "true", "dcfw.output.policy": "deny", "dcfw.output.rule.0": "allow"}
	e := newSandboxEnv(t, func(c *Config) { c.OnError = Skip })
	e.engine.PutImage(sneakyImageID, sneakyImageLabels, sneakyImage)
	e.startRun()
	e.n++
	c := enginetest.Container{ID: containerID("web"), Name: "web", Labels: lbls, NetworkMode: "default", PID: 1000 + e.n,
		ImageID: sneakyImageID, Image: sneakyImage}
	e.engine.Put(c)
	attrs := map[string]string{"name": "web", "image": sneakyImage}
	for k, v := range lbls {
		attrs[k] = v
	}
	e.emit(engine.Event{Kind: engine.EventCreate, ContainerID: c.ID, Attributes: attrs, Time: time.Now()})
	s := &starting{Container: c, ns: netnsutil.ID{Dev: 4, Ino: 4026533000 + uint64(e.n)}, file: "sbx-web"}
	e.sandbox(s, time.Now())
	eventually(t, "the sandbox path's fallback", func() bool { return len(e.fallbacks("web")) == 1 })
	if got := e.tableIn(s.ns); got != "" {
		t.Errorf("sandbox path wrote:\n%s\nwant nothing (--on-error=skip)", got)
	}
}
