package reconcile

import (
	"maps"
	"testing"

	"github.com/dcfw/dcfw/engine/enginetest"
	"github.com/dcfw/dcfw/labels"
)

func TestLabelsAreParsedAndCompiledOncePerSet(t *testing.T) {
	e := newTestEnv(t)
	withProject := func(lbls map[string]string, project string) map[string]string {
		out := maps.Clone(lbls)
		out["com.docker.compose.project"] = project
		return out
	}
	web := e.start("web", withProject(webLabels, "a"))
	e.start("web2", withProject(webLabels, "b")) // same dcfw labels, other owner
	e.start("bad", badLabels)
	e.start("plain", map[string]string{"com.example": "x"})
	e.start("side", webLabels, joining(web)) // web's namespace: web's prefix
	for range 5 {
		if st := e.cycle(); st.Managed != 3 {
			t.Fatalf("stats %+v, want 3 managed namespaces", st)
		}
	}
	v := e.ctrl.verdicts
	// webLabels, badLabels, no dcfw labels; webLabels compiled for the
	// prefixes of web and web2.
	if v.parses != 3 || v.compiles != 2 {
		t.Errorf("5 cycles parsed %d and compiled %d times, want 3 and 2", v.parses, v.compiles)
	}

	// A change is picked up in the next cycle.
	e.engine.Update(web.ID, func(c *enginetest.Container) { c.Labels = withProject(openLabels, "a") })
	e.cycle()
	if v.parses != 4 {
		t.Errorf("parses = %d after a label change, want 4", v.parses)
	}
	// side still has webLabels, now alone and different from its owner: a
	// conflict, so its namespace is locked down.
	if got, want := e.table(web), lockdownTable(web.ID); got != want {
		t.Errorf("table after the change:\n%s\nwant:\n%s", got, want)
	}
	e.engine.Delete(containerID("side"))
	e.cycle()
	if got, want := e.table(web), policyTable(t, openLabels, web.ID); got != want {
		t.Errorf("table after the change:\n%s\nwant:\n%s", got, want)
	}

	// Sets no listed container has any more are forgotten.
	e.engine.Delete(containerID("bad"))
	e.engine.Delete(containerID("web2"))
	e.cycle()
	if n := len(v.entries); n != 2 {
		t.Errorf("%d label sets remembered, want 2 (web's, plain's)", n)
	}
	for _, lv := range v.entries {
		if len(lv.tables) > 1 {
			t.Errorf("%d compiled tables remembered for one set, want at most 1", len(lv.tables))
		}
	}
}

// dcfwLike must let through every label key that Parse, IgnoredKeys or
// NearMisses would look at, or the cache would mix up two sets that differ
// there.
func TestDcfwLikeCoversEveryKeyThatMatters(t *testing.T) {
	keys := []string{
		"dcfw.enable", "DCFW.enable", "Dcfw.Input.Policy", "dcfw.input.rule.1", "dcfw.whatever",
		"dcfw-output.policy", "dcfw_input.rule.1", "dcfw:enable", " dcfw.enable", "dcfw.enable ",
		"\u200bdcfw.enable", "d\u200bcfw.enable", "dcfw\u202e.enable", "\ufeffDCFW.enable", "\tdcfw.enable",
	}
	for _, k := range keys {
		lbls := map[string]string{k: "true"}
		matters := len(labels.IgnoredKeys(lbls)) > 0 || len(labels.NearMisses(lbls)) > 0 || k == labels.KeyEnable
		if !matters {
			t.Errorf("%q: the test expects a key that matters", k)
		}
		if !dcfwLike(k) {
			t.Errorf("dcfwLike(%q) = false", k)
		}
	}
	for _, k := range []string{"com.example.dcfw", "com.docker.compose.project", "dcf.enable", "name", ""} {
		if dcfwLike(k) {
			t.Errorf("dcfwLike(%q) = true", k)
		}
	}
}
