package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// LogLine is one line of dcfw's JSON log (--log-format json).
type LogLine struct {
	Time   time.Time      // "ts"
	Level  string         // "level"
	Msg    string         // "msg"
	Fields map[string]any // everything, ts, level and msg included
}

// Layouts of zap's time encoders: main.go uses ISO8601TimeEncoder
// (milliseconds); the others are accepted too so that a change of encoder
// does not silently lose every line.
var tsLayouts = []string{"2006-01-02T15:04:05.000Z0700", time.RFC3339Nano}

// ParseLog returns the JSON lines of a dcfw log, in order; other lines
// (none, with --log-format json) are skipped.
func ParseLog(s string) []LogLine {
	var out []LogLine
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		l := LogLine{Fields: m}
		l.Level, _ = m["level"].(string)
		l.Msg, _ = m["msg"].(string)
		switch ts := m["ts"].(type) {
		case string:
			for _, layout := range tsLayouts {
				if t, err := time.Parse(layout, ts); err == nil {
					l.Time = t
					break
				}
			}
		case float64: // zap's default: seconds since the epoch
			l.Time = time.Unix(0, int64(ts*1e9))
		}
		out = append(out, l)
	}
	return out
}

// String is the field key as a string ("" when absent or not a string).
func (l LogLine) String(key string) string {
	s, _ := l.Fields[key].(string)
	return s
}

// Duration is the field key as a duration: zap writes durations as
// seconds (a number) in JSON by default, or as strings ("1.5ms") with
// StringDurationEncoder; both are accepted.
func (l LogLine) Duration(key string) (time.Duration, bool) {
	switch v := l.Fields[key].(type) {
	case float64:
		return time.Duration(v * float64(time.Second)), true
	case string:
		d, err := time.ParseDuration(v)
		return d, err == nil
	}
	return 0, false
}

// FindProtected returns the first "protection applied" line about the
// container with ID id (full or short), at or after from.
func FindProtected(lines []LogLine, id string, from time.Time) (LogLine, bool) {
	short := id
	if len(short) > 12 {
		short = short[:12]
	}
	for _, l := range lines {
		if l.Msg == "protection applied" && l.String("id") == short && !l.Time.Before(from) {
			return l, true
		}
	}
	return LogLine{}, false
}

// Protection is how long one container waited for its table.
type Protection struct {
	Container string
	// Engine timestamps (timeNano) of its start event and of its first
	// network connect event (zero: none, e.g. network_mode none).
	Start, Connect time.Time
	// Process is when the container's process started, by its own clock
	// (the test peer's first timestamp; zero: unknown).
	Process time.Time
	// Protected is the timestamp of dcfw's "protection applied" line:
	// logged right after the batch that created the table was
	// acknowledged by the kernel (millisecond resolution).
	Protected time.Time
	// From dcfw's line: its path field ("sandbox" or "pid"; "" when the
	// build does not log one), its since_connect field, and how long its
	// apply took (duration).
	Path            string
	SinceConnect    time.Duration
	HasSinceConnect bool
	Apply           time.Duration
	// The sandbox path's since_found field (its finder saw the container's
	// interface → the rules were in place: dcfw's own share), and the
	// PID path's fallback field (why the sandbox path did not protect it).
	SinceFound    time.Duration
	HasSinceFound bool
	Fallback      string
}

// NewProtection builds a Protection from the events' and the process's
// times and dcfw's line.
func NewProtection(container string, start, connect, process time.Time, line LogLine) Protection {
	p := Protection{Container: container, Start: start, Connect: connect, Process: process, Protected: line.Time, Path: line.String("path")}
	p.SinceConnect, p.HasSinceConnect = line.Duration("since_connect")
	p.SinceFound, p.HasSinceFound = line.Duration("since_found")
	p.Fallback = line.String("fallback")
	p.Apply, _ = line.Duration("duration")
	return p
}

// FromStart, FromConnect and FromProcess: time from the event until the
// table was in place (negative: in place before it).
func (p Protection) FromStart() time.Duration   { return p.Protected.Sub(p.Start) }
func (p Protection) FromConnect() time.Duration { return p.Protected.Sub(p.Connect) }
func (p Protection) FromProcess() time.Duration { return p.Protected.Sub(p.Process) }

// Spread is the median, 99th percentile (nearest rank) and maximum of n
// values.
type Spread struct {
	N             int
	P50, P99, Max time.Duration
}

func spread(ds []time.Duration) Spread {
	return Spread{N: len(ds), P50: Percentile(ds, 0.5), P99: Percentile(ds, 0.99), Max: Max(ds)}
}

// ProtectStats summarises protections.
type ProtectStats struct {
	N           int
	Paths       map[string]int // by dcfw's path field; "" when not logged
	FromStart   Spread
	FromConnect Spread
	FromProcess Spread
	// BeforeProcess counts the tables in place before the process started
	// (to the millisecond of dcfw's log time).
	BeforeProcess int
	SinceConnect  Spread // dcfw's own figure, over the lines that carry it
	SinceFound    Spread // the sandbox path's since_found
	Apply         Spread // dcfw's apply duration
	Fallbacks     map[string]int
}

// Summarize computes the spreads.
func Summarize(ps []Protection) ProtectStats {
	st := ProtectStats{N: len(ps), Paths: map[string]int{}, Fallbacks: map[string]int{}}
	var fs, fc, fp, sc, sf, ap []time.Duration
	for _, p := range ps {
		st.Paths[p.Path]++
		if p.Fallback != "" {
			// The reason's details (MAC, IP, network) come after a colon:
			// counted by the reason alone.
			reason, _, _ := strings.Cut(p.Fallback, ":")
			st.Fallbacks[reason]++
		}
		if p.HasSinceFound {
			sf = append(sf, p.SinceFound)
		}
		if !p.Process.IsZero() {
			fp = append(fp, p.FromProcess())
			if p.FromProcess() < 0 {
				st.BeforeProcess++
			}
		}
		if !p.Start.IsZero() {
			fs = append(fs, p.FromStart())
		}
		if !p.Connect.IsZero() {
			fc = append(fc, p.FromConnect())
		}
		if p.HasSinceConnect {
			sc = append(sc, p.SinceConnect)
		}
		ap = append(ap, p.Apply)
	}
	st.FromStart, st.FromConnect, st.FromProcess = spread(fs), spread(fc), spread(fp)
	st.SinceConnect, st.SinceFound, st.Apply = spread(sc), spread(sf), spread(ap)
	return st
}

// FallbacksString lists the PID path's reasons ("" when none).
func (s ProtectStats) FallbacksString() string {
	return countString(s.Fallbacks, "")
}

// PathsString lists the paths seen, e.g. "pid ×20" ("pid" also when the
// build logs no path field: then only the PID path exists).
func (s ProtectStats) PathsString() string {
	return countString(s.Paths, "pid (no path field logged)")
}

// countString lists counts by key, sorted, e.g. "pid ×2, sandbox ×18";
// the empty key is shown as empty.
func countString(m map[string]int, empty string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		name := k
		if name == "" {
			name = empty
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}
