package reconcile

import (
	"maps"
	"testing"

	"github.com/dcfw/dcfw/engine/enginetest"
	"go.uber.org/zap/zapcore"
)

func TestNearMissesAreWarned(t *testing.T) {
	const msg = "looks like a dcfw label"
	tests := []struct {
		name    string
		labels  map[string]string
		want    map[string]string // key as logged → suggestion
		managed bool
	}{
		{"DCFW.enable alone: not managed, warned", map[string]string{"DCFW.enable": "true"},
			map[string]string{"DCFW.enable": "dcfw.enable"}, false},
		{"other separator on a managed container", map[string]string{"dcfw.enable": "true", "dcfw_input.rule.1": "allow"},
			map[string]string{"dcfw_input.rule.1": "dcfw.input.rule.1"}, true},
		{"zero-width space in the prefix", map[string]string{"dcfw\u200b.enable": "true"},
			map[string]string{`dcfw\u200b.enable`: "dcfw.enable"}, false},
		{"another case on a managed container is Parse's error", map[string]string{"dcfw.enable": "true", "DCFW.input.policy": "allow"},
			nil, true},
		{"no near miss", webLabels, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.start("app", tt.labels)
			if st := e.cycle(); (st.Managed == 1) != tt.managed {
				t.Errorf("stats %+v, want managed %v", st, tt.managed)
			}
			got := map[string]string{}
			for _, le := range e.entries(zapcore.WarnLevel, msg) {
				if field(le, "container") != "app" {
					t.Errorf("warning does not name the container: %v", le.ContextMap())
				}
				got[field(le, "label").(string)], _ = field(le, "did_you_mean").(string)
			}
			if !maps.Equal(got, tt.want) && len(got)+len(tt.want) > 0 {
				t.Errorf("warned about %v, want %v; logs %v", got, tt.want, e.logs.All())
			}
			if len(e.entries(zapcore.WarnLevel, "no dcfw.enable label")) != 0 {
				t.Errorf("a near miss was also reported as an ignored dcfw label: %v", e.logs.All())
			}
		})
	}
}

func TestNearMissesAreWarnedOncePerChange(t *testing.T) {
	const msg = "looks like a dcfw label"
	e := newTestEnv(t)
	app := e.start("app", map[string]string{"DCFW.enable": "true"})
	e.cycle()
	e.cycle()
	if n := len(e.entries(zapcore.WarnLevel, msg)); n != 1 {
		t.Fatalf("%d warnings after two cycles, want 1", n)
	}
	e.engine.Update(app.ID, func(c *enginetest.Container) { c.Labels["dcfw-output.policy"] = "deny" })
	e.resetLogs()
	e.cycle()
	if n := len(e.entries(zapcore.WarnLevel, msg)); n != 2 {
		t.Errorf("%d warnings after the set changed, want one for each of its 2 labels", n)
	}
}
