package reconcile

import (
	"slices"
	"testing"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/engine/enginetest"
	"go.uber.org/zap/zapcore"
)

func TestPrivilegesOf(t *testing.T) {
	tests := []struct {
		name string
		info engine.ContainerInfo
		want privileges
	}{
		{"defaults", engine.ContainerInfo{}, privileges{netRaw: true}},
		{"privileged", engine.ContainerInfo{Privileged: true, CapDrop: []string{"ALL"}},
			privileges{privileged: true, netAdmin: true, sysAdmin: true, netRaw: true}},
		{"NET_ADMIN", engine.ContainerInfo{CapAdd: []string{"NET_ADMIN"}}, privileges{netAdmin: true, netRaw: true}},
		{"cap_ prefix, any case", engine.ContainerInfo{CapAdd: []string{"cap_net_admin", "Cap_Sys_Admin"}},
			privileges{netAdmin: true, sysAdmin: true, netRaw: true}},
		{"add ALL", engine.ContainerInfo{CapAdd: []string{"all"}}, privileges{netAdmin: true, sysAdmin: true, netRaw: true}},
		{"add ALL but drop some", engine.ContainerInfo{CapAdd: []string{"ALL"}, CapDrop: []string{"NET_ADMIN", "CAP_NET_RAW"}},
			privileges{sysAdmin: true}},
		{"drop NET_RAW", engine.ContainerInfo{CapDrop: []string{"net_raw"}}, privileges{}},
		{"drop ALL", engine.ContainerInfo{CapDrop: []string{"ALL"}}, privileges{}},
		{"drop ALL, add NET_RAW back", engine.ContainerInfo{CapDrop: []string{"ALL"}, CapAdd: []string{"NET_RAW"}}, privileges{netRaw: true}},
		{"added and dropped: added wins", engine.ContainerInfo{CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"NET_ADMIN"}},
			privileges{netAdmin: true, netRaw: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.known = true
			if got := privilegesOf(tt.info); got != tt.want {
				t.Errorf("privilegesOf(%+v) = %+v, want %+v", tt.info, got, tt.want)
			}
		})
	}
}

// withCaps gives the container its own privileges.
func withCaps(privileged bool, add, drop []string) ctrOpt {
	return func(_ *testEnv, c *enginetest.Container) { c.Privileged, c.CapAdd, c.CapDrop = privileged, add, drop }
}

func TestOwnPrivileges(t *testing.T) {
	tests := []struct {
		name     string
		labels   map[string]string
		opt      ctrOpt
		strict   bool
		level    zapcore.Level // of the one line naming the risk; 0 with warn: none
		lockdown bool
	}{
		{"NET_ADMIN warned", webLabels, withCaps(false, []string{"NET_ADMIN"}, nil), false, zapcore.WarnLevel, false},
		{"SYS_ADMIN warned", webLabels, withCaps(false, []string{"cap_sys_admin"}, nil), false, zapcore.WarnLevel, false},
		{"privileged warned", webLabels, withCaps(true, nil, nil), false, zapcore.WarnLevel, false},
		{"NET_ADMIN strict", webLabels, withCaps(false, []string{"net_admin"}, nil), true, zapcore.ErrorLevel, true},
		{"privileged strict", webLabels, withCaps(true, nil, nil), true, zapcore.ErrorLevel, true},
		{"default capabilities", webLabels, withCaps(false, nil, nil), true, zapcore.InvalidLevel, false},
		{"dcfw.enable=false", disabledLabels, withCaps(false, []string{"NET_ADMIN"}, nil), true, zapcore.InvalidLevel, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, func(c *Config) { c.Strict = tt.strict })
			web := e.start("web", tt.labels, tt.opt)
			st := e.cycle()
			var lines []string
			for _, le := range e.atLeast(zapcore.WarnLevel) {
				if le.Message == "the container can change its own firewall rules" ||
					le.Message == "the container can change its own firewall rules; locked down (--strict): only loopback traffic passes" {
					lines = append(lines, le.Level.String())
					if field(le, "container") != "web" || field(le, "risk") == nil || field(le, "fix") == nil {
						t.Errorf("line lacks container, risk or fix: %v", le.ContextMap())
					}
				}
			}
			switch {
			case tt.level == zapcore.InvalidLevel && len(lines) != 0:
				t.Errorf("privilege lines %v, want none", lines)
			case tt.level != zapcore.InvalidLevel && (len(lines) != 1 || lines[0] != tt.level.String()):
				t.Errorf("privilege lines %v, want one at %s", lines, tt.level)
			}
			switch {
			case tt.lockdown:
				if got := e.table(web); got != lockdownTable(web.ID) || st.Errors != 1 {
					t.Errorf("errors %d, table:\n%s\nwant the lockdown", st.Errors, got)
				}
			case tt.labels["dcfw.enable"] == "true":
				if got, want := e.table(web), policyTable(t, tt.labels, web.ID); got != want || st.Errors != 0 {
					t.Errorf("errors %d, table:\n%s\nwant the labels' policy", st.Errors, got)
				}
			}
			// Once per change.
			e.resetLogs()
			e.cycle()
			e.noLogsAbove(zapcore.InfoLevel)
		})
	}
}

func TestNetRawWithoutEgressHook(t *testing.T) {
	e := newTestEnv(t)
	e.fw.SetNoEgress(true)
	e.start("default-caps", webLabels)
	e.start("no-raw", webLabels, withCaps(false, nil, []string{"NET_RAW"}))
	e.start("none", webLabels, withCaps(false, nil, []string{"ALL"}))
	e.start("raw-back", webLabels, withCaps(false, []string{"net_raw"}, []string{"ALL"}))
	e.start("plain", nil, withCaps(false, nil, nil)) // not labelled: not warned about
	e.cycle()
	if l := e.entries(zapcore.WarnLevel, "raw-frame filtering unavailable"); len(l) != 1 {
		t.Errorf("want one line saying raw frames are not filtered, got %d", len(l))
	}
	var warned []string
	for _, le := range e.entries(zapcore.WarnLevel, "keeps CAP_NET_RAW") {
		warned = append(warned, field(le, "container").(string))
		if field(le, "fix") != "cap_drop: [NET_RAW]" {
			t.Errorf("warning without the fix: %v", le.ContextMap())
		}
	}
	slices.Sort(warned)
	if len(warned) != 2 || warned[0] != "default-caps" || warned[1] != "raw-back" {
		t.Errorf("NET_RAW warnings about %v, want default-caps and raw-back", warned)
	}
	e.resetLogs()
	e.cycle()
	e.noLogsAbove(zapcore.InfoLevel)

	// A kernel with the hook: nothing to say.
	e2 := newTestEnv(t)
	e2.start("default-caps", webLabels)
	e2.cycle()
	e2.noLogsAbove(zapcore.InfoLevel)
}
