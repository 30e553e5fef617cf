package droplog

import (
	"reflect"
	"testing"
	"time"
)

// step is one call of a limiter test: allow at `at`, or roll at rollAt.
type step struct {
	at       time.Duration // after t0
	rule     string
	allowed  bool
	summary  *suppression  // what allow returns (From and To: t0 and a minute later)
	rollAt   time.Duration // if set: call roll here instead of allow
	rollWant int           // lines in the summary roll returns (0: nil)
}

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name      string
		perMinute int
		steps     []step
	}{{
		name:      "under the cap",
		perMinute: 3,
		steps: []step{
			{at: 0, rule: "a", allowed: true},
			{at: time.Second, rule: "a", allowed: true},
			{at: 59 * time.Second, rule: "b", allowed: true},
		},
	}, {
		name:      "over the cap, summary when the next record comes after the minute",
		perMinute: 2,
		steps: []step{
			{at: 0, rule: "a", allowed: true},
			{at: 1 * time.Second, rule: "a", allowed: true},
			{at: 2 * time.Second, rule: "a", allowed: false},
			{at: 3 * time.Second, rule: "b", allowed: false},
			{at: 4 * time.Second, rule: "a", allowed: false},
			{at: 61 * time.Second, rule: "a", allowed: true,
				summary: &suppression{Lines: 3, PerRule: map[string]int{"a": 2, "b": 1}}},
			{at: 62 * time.Second, rule: "a", allowed: true},
			{at: 63 * time.Second, rule: "a", allowed: false},
		},
	}, {
		name:      "summary by roll when no record follows",
		perMinute: 1,
		steps: []step{
			{at: 0, rule: "a", allowed: true},
			{at: time.Second, rule: "a", allowed: false},
			{rollAt: 59 * time.Second, rollWant: 0},
			{rollAt: 60 * time.Second, rollWant: 1},
			{rollAt: 70 * time.Second, rollWant: 0},
			{at: 71 * time.Second, rule: "a", allowed: true},
		},
	}, {
		name:      "zero cap means the default",
		perMinute: 0,
		steps:     repeatAllowed(DefaultPerMinute),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(tt.perMinute)
			for i, s := range tt.steps {
				if s.rollAt != 0 {
					got := l.roll(t0.Add(s.rollAt))
					if (got == nil) != (s.rollWant == 0) || got != nil && got.Lines != s.rollWant {
						t.Fatalf("step %d: roll = %+v, want %d lines", i, got, s.rollWant)
					}
					continue
				}
				ok, sum := l.allow(t0.Add(s.at), s.rule)
				if ok != s.allowed {
					t.Fatalf("step %d: allowed %v, want %v", i, ok, s.allowed)
				}
				if (sum == nil) != (s.summary == nil) {
					t.Fatalf("step %d: summary %+v, want %+v", i, sum, s.summary)
				}
				if sum != nil && (sum.Lines != s.summary.Lines || !reflect.DeepEqual(sum.PerRule, s.summary.PerRule) ||
					!sum.From.Equal(t0) || !sum.To.Equal(t0.Add(time.Minute))) {
					t.Fatalf("step %d: summary %+v, want %+v from %v for a minute", i, sum, s.summary, t0)
				}
			}
		})
	}
	if ok, _ := newLimiter(0).allow(t0, "a"); !ok {
		t.Fatal("first line held back")
	}
}

// repeatAllowed is n+1 lines of one rule within a second: n allowed.
func repeatAllowed(n int) []step {
	var out []step
	for i := range n + 1 {
		out = append(out, step{at: time.Duration(i) * time.Millisecond, rule: "r", allowed: i < n})
	}
	return out
}

func TestSuppressionRulesSorted(t *testing.T) {
	s := suppression{PerRule: map[string]int{"b": 2, "a": 2, "c": 5}}
	want := []ruleCount{{"c", 5}, {"a", 2}, {"b", 2}}
	if got := s.Rules(); !reflect.DeepEqual(got, want) {
		t.Errorf("Rules() = %v, want %v", got, want)
	}
}

func TestHourly(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	var h hourly
	if n := h.last(t0); n != 0 {
		t.Fatalf("empty: %d", n)
	}
	h.add(t0)
	h.add(t0.Add(30 * time.Second))
	h.add(t0.Add(10 * time.Minute))
	h.add(t0.Add(59 * time.Minute))
	tests := []struct {
		at   time.Duration
		want int
	}{
		{0, 2},
		{59 * time.Minute, 4},
		{59*time.Minute + 59*time.Second, 4},
		{60 * time.Minute, 2},  // the first minute's two have aged out
		{69 * time.Minute, 2},  // ten minutes' one still in
		{70 * time.Minute, 1},  // and gone
		{119 * time.Minute, 0}, // and the last
		{2 * time.Hour, 0},
	}
	for _, tt := range tests {
		if got := h.last(t0.Add(tt.at)); got != tt.want {
			t.Errorf("at +%v: %d, want %d", tt.at, got, tt.want)
		}
	}
	// A bucket reused an hour later starts from zero.
	h.add(t0.Add(2 * time.Hour))
	if got := h.last(t0.Add(2 * time.Hour)); got != 1 {
		t.Errorf("reused bucket: %d, want 1", got)
	}
}
