package bench

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nft"
)

// The figures in BENCHMARKS.md count a table's rules as the kernel rules
// of `table inet dcfw` (RuleCount): "37 rules per table" (36 before the
// embedded DNS's guard) and "20, 100 and 1,000 rules". These tests keep
// the policies honest.

func TestSteadyLabels(t *testing.T) {
	tbl, err := Table(SteadyLabels(), ContainerID(0))
	if err != nil {
		t.Fatal(err)
	}
	in, out := tbl.RuleCount()
	if in != 17 || out != 17 || RuleCount(tbl) != 37 {
		t.Errorf("steady table has %d input, %d output and %d rules in all, want 17, 17 and 37 (BENCHMARKS.md):\n%s", in, out, RuleCount(tbl), tbl)
	}
	// 10 kernel rules come from the labels (6 input, 4 output).
	if a, b := fromLabels(tbl.Chain(nft.InputChain), nft.InputChain), fromLabels(tbl.Chain(nft.OutputChain), nft.OutputChain); a != 6 || b != 4 {
		t.Errorf("steady labels make %d input and %d output rules, want 6 and 4", a, b)
	}
}

// fromLabels counts the rules of c that label rules of chain dir made (not
// their mirrors).
func fromLabels(c *nft.Chain, dir string) int {
	n := 0
	for _, r := range c.Rules {
		if strings.HasPrefix(r.Comment, "dcfw."+dir+".rule.") {
			n++
		}
	}
	return n
}

func TestSizedLabels(t *testing.T) {
	base, err := sizedBase()
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{base + 2, base + 3, 20, 100, 1000} {
		la, err := SizedLabels(size, 0)
		if err != nil {
			t.Fatal(err)
		}
		lb, err := SizedLabels(size, 1)
		if err != nil {
			t.Fatal(err)
		}
		a, err := Table(la, ContainerID(0))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Table(lb, ContainerID(0))
		if err != nil {
			t.Fatal(err)
		}
		if got := RuleCount(a); got != size {
			t.Errorf("SizedLabels(%d): %d rules", size, got)
		}
		// The variants differ in one label rule: its kernel rules in the
		// input chain, its mirror in the output chain, nothing else.
		v := sizedVariantRule(size)
		in, out := 0, 0
		for _, r := range a.Chain(nft.InputChain).Rules {
			if strings.HasPrefix(r.Comment, v+":") {
				in++
			}
		}
		for _, r := range a.Chain(nft.OutputChain).Rules {
			if strings.HasPrefix(r.Comment, "reply: "+v+":") {
				out++
			}
		}
		if in < 1 || out != 1 {
			t.Errorf("SizedLabels(%d): variant rule %s has %d input and %d output rules, want at least 1 and 1", size, v, in, out)
		}
		if d := ruleDiffs(a.Chain(nft.InputChain), b.Chain(nft.InputChain)); d != in {
			t.Errorf("SizedLabels(%d): variants differ in %d input rules, want %d", size, d, in)
		}
		if d := ruleDiffs(a.Chain(nft.OutputChain), b.Chain(nft.OutputChain)); d != out {
			t.Errorf("SizedLabels(%d): variants differ in %d output rules, want %d", size, d, out)
		}
		for _, name := range []string{nft.StampChain, nft.UnstampChain} {
			if d := ruleDiffs(a.Chain(name), b.Chain(name)); d != 0 {
				t.Errorf("SizedLabels(%d): variants differ in %d %s rules", size, d, name)
			}
		}
	}
	if _, err := SizedLabels(base+1, 0); err == nil {
		t.Errorf("SizedLabels(%d): no error (a table needs %d rules without label rules and 2 for one)", base+1, base)
	}
}

func ruleDiffs(a, b *nft.Chain) int {
	if len(a.Rules) != len(b.Rules) {
		return -1
	}
	n := 0
	for i := range a.Rules {
		if a.Rules[i].String() != b.Rules[i].String() {
			n++
		}
	}
	return n
}

func TestPercentile(t *testing.T) {
	ds := func(ms ...int) []time.Duration {
		out := make([]time.Duration, len(ms))
		for i, m := range ms {
			out[i] = time.Duration(m) * time.Millisecond
		}
		return out
	}
	twenty := ds(20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
	for _, c := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{ds(7), 0.99, 7 * time.Millisecond},
		{ds(3, 1, 2), 0.5, 2 * time.Millisecond},
		{ds(4, 1, 3, 2), 0.5, 2 * time.Millisecond}, // nearest rank: the 2nd of 4
		{twenty, 0.5, 10 * time.Millisecond},
		{twenty, 0.95, 19 * time.Millisecond},
		{twenty, 0.99, 20 * time.Millisecond}, // of 20, p99 is the largest
	} {
		if got := Percentile(c.in, c.p); got != c.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.in, c.p, got, c.want)
		}
	}
	in := ds(3, 1, 2)
	Percentile(in, 0.5)
	if !slices.Equal(in, ds(3, 1, 2)) {
		t.Error("Percentile sorted its input")
	}
}

// TestParseLog parses lines as dcfw writes them with --log-format json
// (main.go's encoder: production JSON, ISO8601 times, durations in
// seconds) and turns them into a Protection.
func TestParseLog(t *testing.T) {
	var buf bytes.Buffer
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(&buf), zapcore.InfoLevel))
	id := ContainerID(7)
	at := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	log = log.WithOptions(zap.WithClock(fixedClock{at}))
	log.Info("initial reconcile", zap.Int("containers", 1))
	log.Info("protection applied", zap.String("container", "other"), zap.String("id", ContainerID(8)[:12]))
	log.Info("protection applied", zap.String("container", "web"), zap.String("id", id[:12]),
		zap.Duration("duration", 1500*time.Microsecond), zap.String("path", "sandbox"),
		zap.Duration("since_connect", 42*time.Millisecond), zap.Duration("since_found", 3*time.Millisecond))
	log.Info("protection applied", zap.String("container", "late"), zap.String("id", ContainerID(9)[:12]),
		zap.String("path", "pid"), zap.String("fallback", "the process started first: after 12ms"))
	text := "not json\n" + buf.String()

	lines := ParseLog(text)
	if len(lines) != 4 {
		t.Fatalf("parsed %d lines, want 4:\n%s", len(lines), text)
	}
	l, ok := FindProtected(lines, id, at.Add(-time.Second))
	if !ok {
		t.Fatalf("no protection line for %s:\n%s", id[:12], text)
	}
	if !l.Time.Equal(at) {
		t.Errorf("time %v, want %v", l.Time, at)
	}
	if _, ok := FindProtected(lines, id, at.Add(time.Millisecond)); ok {
		t.Error("found a line older than from")
	}
	start, connect := at.Add(-10*time.Millisecond), at.Add(-50*time.Millisecond)
	process := at.Add(2 * time.Millisecond)
	p := NewProtection("web", start, connect, process, l)
	if p.FromStart() != 10*time.Millisecond || p.FromConnect() != 50*time.Millisecond || p.FromProcess() != -2*time.Millisecond {
		t.Errorf("from start %v, from connect %v, from process %v; want 10ms, 50ms and -2ms", p.FromStart(), p.FromConnect(), p.FromProcess())
	}
	if p.Path != "sandbox" || !p.HasSinceConnect || p.SinceConnect != 42*time.Millisecond || p.Apply != 1500*time.Microsecond ||
		!p.HasSinceFound || p.SinceFound != 3*time.Millisecond {
		t.Errorf("fields: %+v", p)
	}

	// A line without the sandbox path's fields: the PID path of older builds.
	old := NewProtection("web", start, connect, time.Time{}, lines[1])
	late, ok := FindProtected(lines, ContainerID(9), time.Time{})
	if !ok {
		t.Fatal("no line about the late container")
	}
	st := Summarize([]Protection{p, old, NewProtection("late", start, connect, time.Time{}, late)})
	if st.FallbacksString() != "the process started first ×1" {
		t.Errorf("fallbacks %q", st.FallbacksString())
	}
	if st.SinceConnect.N != 1 || st.FromConnect.N != 3 || st.FromProcess.N != 1 || st.BeforeProcess != 1 || !strings.Contains(st.PathsString(), "sandbox ×1") ||
		!strings.Contains(st.PathsString(), "no path field") {
		t.Errorf("summary %+v, paths %q", st, st.PathsString())
	}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                         { return c.t }
func (c fixedClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

func TestNamesLabels(t *testing.T) {
	p, err := labels.Parse(NamesLabels())
	if err != nil {
		t.Fatal(err)
	}
	var answered []string
	for n := range NameAnswers {
		answered = append(answered, n)
	}
	slices.Sort(answered)
	if got := p.Names(); !slices.Equal(got, answered) {
		t.Errorf("the labels name %v, the fleet's DNS servers answer %v", got, answered)
	}
	tbl, err := Table(NamesLabels(), ContainerID(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(tbl.Sets) != 2*len(answered) {
		t.Errorf("%d sets, want one per name and family (%d)", len(tbl.Sets), 2*len(answered))
	}
}
