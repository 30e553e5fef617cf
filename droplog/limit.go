package droplog

import (
	"sort"
	"time"
)

// DefaultPerMinute is the cap of lines per container per minute when
// Config names none: enough to see what is going on during an incident,
// few enough that one noisy container cannot bury dcfw's other lines.
const DefaultPerMinute = 30

// limiter caps lines in fixed one-minute windows, the first starting with
// the first line. It is not safe for concurrent use.
type limiter struct {
	perMinute  int
	start      time.Time // of the current window; zero: none yet
	lines      int       // written in the current window
	suppressed map[string]int
}

// suppression is what a window held back: lines per rule.
type suppression struct {
	From, To time.Time
	Lines    int
	PerRule  map[string]int
}

// ruleCount is one entry of a suppression, for a sorted summary.
type ruleCount struct {
	Rule  string
	Lines int
}

// Rules returns the per-rule counts, most first, then by rule.
func (s suppression) Rules() []ruleCount {
	out := make([]ruleCount, 0, len(s.PerRule))
	for r, n := range s.PerRule {
		out = append(out, ruleCount{r, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Lines != out[j].Lines {
			return out[i].Lines > out[j].Lines
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

func newLimiter(perMinute int) *limiter {
	if perMinute <= 0 {
		perMinute = DefaultPerMinute
	}
	return &limiter{perMinute: perMinute}
}

// allow reports whether a line about rule may be written at now, and
// returns the summary of the window that ended before now, if it held
// lines back (to be written first).
func (l *limiter) allow(now time.Time, rule string) (bool, *suppression) {
	s := l.roll(now)
	if l.start.IsZero() {
		l.start = now
	}
	if l.lines < l.perMinute {
		l.lines++
		return true, s
	}
	if l.suppressed == nil {
		l.suppressed = map[string]int{}
	}
	l.suppressed[rule]++
	return false, s
}

// roll ends the current window if now is past it, and returns what it held
// back (nil if nothing).
func (l *limiter) roll(now time.Time) *suppression {
	if l.start.IsZero() || now.Before(l.start.Add(time.Minute)) {
		return nil
	}
	s := l.take(l.start.Add(time.Minute))
	l.start, l.lines = time.Time{}, 0
	return s
}

// take returns and clears what the current window held back, up to end.
func (l *limiter) take(end time.Time) *suppression {
	if len(l.suppressed) == 0 {
		return nil
	}
	s := &suppression{From: l.start, To: end, PerRule: l.suppressed}
	for _, n := range l.suppressed {
		s.Lines += n
	}
	l.suppressed = nil
	return s
}
