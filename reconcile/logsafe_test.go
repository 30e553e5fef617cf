package reconcile

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dcfw/dcfw/engine"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// hostile are characters that must never reach a log line raw: a bidi
// override, a C1 control (NEL), ESC and a zero-width space.
const hostile = "\u202e\u0085\x1b\u200b"

func TestLogsCarryNoHostileCharacters(t *testing.T) {
	e := newTestEnv(t)
	evil := func(s string) string { return s + "\u202e" + "x\u0085y\x1b[2J\u200b" }

	// Managed, with a broken rule, a broken key, a bad policy word and a
	// near miss.
	e.start(evil("web"), map[string]string{
		"dcfw.enable":              "true",
		"dcfw.input.policy":        evil("deny"),
		"dcfw.input.rule.1":        evil("allow from 10.0.0.1 to "),
		evil("dcfw.input.rule.2"):  evil("allow"),
		evil("dcfw.output.rule.x"): "allow",
		evil("dcfw-output.policy"): "deny",
	})
	// Not managed: dcfw labels without dcfw.enable, and near misses.
	unmanaged := map[string]string{"DCFW.enable": "true", evil("dcfw\u200b.input.policy"): "deny"}
	for i := range 15 {
		unmanaged[evil(fmt.Sprintf("dcfw.input.rule.%d", i))] = evil("allow")
	}
	plain := e.start(evil("plain"), unmanaged)
	e.ctrl.absorb([]engine.Event{{Kind: engine.EventNetworkDisconnect, ContainerID: plain.ID, NetworkName: evil("net")}})
	e.cycle()

	for _, want := range []struct {
		level zapcore.Level
		msg   string
	}{
		{zapcore.ErrorLevel, "invalid dcfw labels"},
		{zapcore.WarnLevel, "no dcfw.enable label"},
		{zapcore.WarnLevel, "looks like a dcfw label"},
		{zapcore.DebugLevel, "docker event"},
	} {
		if len(e.entries(want.level, want.msg)) == 0 {
			t.Errorf("no %s line %q: the test would prove nothing", want.level, want.msg)
		}
	}
	for _, le := range e.logs.All() {
		checkLogEntry(t, le)
	}
	for _, le := range e.entries(zapcore.WarnLevel, "no dcfw.enable label") {
		if n := len(field(le, "labels").([]any)); n > maxLoggedKeys+1 {
			t.Errorf("%d keys logged, want at most %d and a count", n, maxLoggedKeys)
		}
	}
}

// checkLogEntry fails if a hostile character is in the entry's message or
// any of its string fields, at any depth.
func checkLogEntry(t *testing.T, le observer.LoggedEntry) {
	t.Helper()
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case string:
			if i := strings.IndexAny(v, hostile); i >= 0 {
				t.Errorf("%q: field %s holds %q raw: %q", le.Message, path, []rune(v[i:])[0], v)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		case map[string]any:
			for k, x := range v {
				walk(path+"."+k, x)
			}
		}
	}
	walk("message", le.Message)
	for k, v := range le.ContextMap() {
		walk(k, v)
	}
}
