package reconcile

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dcfw/dcfw/engine/enginetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// lockedBuffer counts what a JSON logger writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) take() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.b.Len()
	b.b.Reset()
	return n
}

// bombLabels are hostile labels: one 48 KB rule of bad tokens, or 400 rules
// of 16 addresses × 16 ports (102,400 kernel rules with proto tcp; 512 per
// label rule without).
func bombLabels(kind string) map[string]string {
	lbls := map[string]string{"dcfw.enable": "true"}
	switch kind {
	case "tokens":
		lbls["dcfw.input.rule.1"] = "allow " + strings.Repeat("frm \u202e ", 48*1024/6)
	case "table", "rule":
		proto := "proto tcp "
		if kind == "rule" {
			proto = ""
		}
		for i := range 400 {
			var addrs, ports []string
			for j := range 16 {
				addrs = append(addrs, fmt.Sprintf("10.%d.%d.%d", i/100, i%100, 2*j+1))
				ports = append(ports, fmt.Sprint(1000+2*j))
			}
			lbls[fmt.Sprintf("dcfw.input.rule.%d", i+1)] = "allow " + proto + "from " + strings.Join(addrs, ",") + " port " + strings.Join(ports, ",")
		}
	}
	return lbls
}

func TestLabelBombsAreLockedDownCheaply(t *testing.T) {
	const maxLogPerCycle = 64 << 10
	var out lockedBuffer
	e := newTestEnv(t, func(c *Config) {
		c.Interval = 10 * time.Second
		json := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&out), zapcore.DebugLevel)
		c.Log = zap.New(zapcore.NewTee(c.Log.Core(), json))
	})
	bombs := []enginetest.Container{e.start("tokens", bombLabels("tokens")), e.start("table", bombLabels("table")), e.start("rule", bombLabels("rule"))}
	web := e.start("web", webLabels)

	for i := range 4 {
		start := time.Now()
		st := e.cycle()
		took := time.Since(start)
		logged := out.take()
		t.Logf("cycle %d: %v, %d bytes of log, stats %+v", i+1, took, logged, st)
		if took > e.cfg.Interval/2 {
			t.Errorf("cycle %d took %v, more than half the interval", i+1, took)
		}
		if logged > maxLogPerCycle {
			t.Errorf("cycle %d logged %d bytes, want at most %d", i+1, logged, maxLogPerCycle)
		}
		if st.Errors != len(bombs) || st.Managed != 4 {
			t.Errorf("cycle %d: stats %+v, want %d errors and 4 managed", i+1, st, len(bombs))
		}
	}
	for _, b := range bombs {
		if got, want := e.table(b), lockdownTable(b.ID); got != want {
			t.Errorf("%s: table\n%s\nwant lockdown", b.Name, got)
		}
	}
	if got, want := e.table(web), policyTable(t, webLabels, web.ID); got != want {
		t.Errorf("the normal container's table:\n%s\nwant:\n%s", got, want)
	}
	// Each bomb's error once, not in every cycle, naming the container;
	// the table's error counts the rules.
	perContainer := map[string]int{}
	for _, le := range e.atLeast(zapcore.ErrorLevel) {
		perContainer[field(le, "container").(string)]++
	}
	for _, b := range bombs {
		if perContainer[b.Name] != 1 {
			t.Errorf("%s: %d error lines in 4 cycles, want 1", b.Name, perContainer[b.Name])
		}
	}
	for _, name := range []string{"table", "rule"} {
		l := e.entries(zapcore.ErrorLevel, "too many kernel rules")
		found := false
		for _, le := range l {
			if field(le, "container") == name {
				found = true
				if s := field(le, "error").(string); !strings.Contains(s, "kernel rules") || field(le, "input_rules") != int64(400) {
					t.Errorf("%s: error does not count the rules: %v", name, le.ContextMap())
				}
			}
		}
		if !found {
			t.Errorf("%s: no 'too many kernel rules' error: %v", name, e.atLeast(zapcore.ErrorLevel))
		}
	}
}
