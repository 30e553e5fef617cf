package droplog

import "time"

// hourly counts events in the last hour, in one-minute buckets: memory is
// fixed (60 counters) whatever the rate.
type hourly struct {
	minute [60]int64 // the minute (Unix time / 60) each bucket counts
	count  [60]int
}

func (h *hourly) add(now time.Time) {
	m := now.Unix() / 60
	i := m % 60
	if h.minute[i] != m {
		h.minute[i], h.count[i] = m, 0
	}
	h.count[i]++
}

// last returns the events of the 60 minutes up to and including now's
// minute.
func (h *hourly) last(now time.Time) int {
	m := now.Unix() / 60
	n := 0
	for i := range h.count {
		if age := m - h.minute[i]; age >= 0 && age < 60 {
			n += h.count[i]
		}
	}
	return n
}
