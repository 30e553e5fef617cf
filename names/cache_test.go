package names

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/dcfw/dcfw/labels"
)

func ips(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func ans(ttl time.Duration, ss ...string) Answer {
	var as Answer
	for _, a := range ips(ss...) {
		as.Addrs = append(as.Addrs, Addr{Addr: a, TTL: ttl})
	}
	return as
}

// TestCacheRetention steps through answers of one name on a clock: each
// address stays max(TTL, Min) after the last answer that held it; errors
// keep what has not expired; the state changes are reported once.
func TestCacheRetention(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := Key{Scope: "ns1", Name: "api.example.com"}
	timeout := &LookupError{Name: k.Name, Err: ErrTimeout}
	notFound := &LookupError{Name: k.Name, Err: ErrNotFound}
	var c Cache
	c.Min = 30 * time.Second
	for _, step := range []struct {
		at             time.Duration
		ans            Answer
		err            error
		addrs          []string
		added, removed []string
		state          error
		changed        bool
	}{
		{at: 0, ans: ans(5*time.Second, "192.0.2.1", "192.0.2.2"), addrs: []string{"192.0.2.1", "192.0.2.2"}, added: []string{"192.0.2.1", "192.0.2.2"}, changed: true},
		// A rotated answer: the old addresses stay (Min, since the TTL is shorter).
		{at: 10 * time.Second, ans: ans(5*time.Second, "192.0.2.3"), addrs: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, added: []string{"192.0.2.3"}},
		// A timeout adds nothing, removes nothing yet, and is a change of state.
		{at: 20 * time.Second, err: timeout, addrs: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, state: ErrTimeout, changed: true},
		{at: 25 * time.Second, err: timeout, addrs: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, state: ErrTimeout},
		// 30 s after the first answer its addresses go; a long TTL keeps .4.
		{at: 30 * time.Second, ans: ans(120*time.Second, "192.0.2.4"), addrs: []string{"192.0.2.3", "192.0.2.4"}, added: []string{"192.0.2.4"}, removed: []string{"192.0.2.1", "192.0.2.2"}, changed: true},
		// .3 was last seen at 10 s: it goes at 40 s, NXDOMAIN or not.
		{at: 39 * time.Second, err: notFound, addrs: []string{"192.0.2.3", "192.0.2.4"}, state: ErrNotFound, changed: true},
		{at: 40 * time.Second, err: notFound, addrs: []string{"192.0.2.4"}, removed: []string{"192.0.2.3"}, state: ErrNotFound},
		{at: 149 * time.Second, err: notFound, addrs: []string{"192.0.2.4"}, state: ErrNotFound},
		{at: 150 * time.Second, err: notFound, removed: []string{"192.0.2.4"}, state: ErrNotFound},
	} {
		ch := c.Update(k, step.ans, step.err, t0.Add(step.at))
		if !slices.Equal(ch.Addrs, ips(step.addrs...)) || !slices.Equal(ch.Added, ips(step.added...)) ||
			!slices.Equal(ch.Removed, ips(step.removed...)) || ch.State != step.state || ch.StateChanged != step.changed {
			t.Fatalf("at %v: %+v\nwant addrs %v added %v removed %v state %v changed %v",
				step.at, ch, step.addrs, step.added, step.removed, step.state, step.changed)
		}
	}
}

// TestCacheDefaultMin: without Min, MinRetention applies.
func TestCacheDefaultMin(t *testing.T) {
	t0 := time.Now()
	var c Cache
	k := Key{Name: "db"}
	c.Update(k, ans(time.Second, "10.0.0.2"), nil, t0)
	if got := c.Update(k, Answer{}, &LookupError{Err: ErrTimeout}, t0.Add(MinRetention-time.Millisecond)).Addrs; len(got) != 1 {
		t.Fatalf("address gone before MinRetention: %v", got)
	}
	if got := c.Update(k, Answer{}, &LookupError{Err: ErrTimeout}, t0.Add(MinRetention)).Addrs; len(got) != 0 {
		t.Fatalf("address kept after MinRetention: %v", got)
	}
}

// TestCacheEvict: an address of a stopped container goes at once, from
// every name that had it.
func TestCacheEvict(t *testing.T) {
	now := time.Now()
	var c Cache
	c.Update(Key{"a", "db"}, ans(600*time.Second, "10.0.0.2", "10.0.0.3"), nil, now)
	c.Update(Key{"b", "db"}, ans(600*time.Second, "10.0.0.2"), nil, now)
	c.Update(Key{"b", "web"}, ans(600*time.Second, "10.0.0.9"), nil, now)
	changed := c.Evict(netip.MustParseAddr("10.0.0.2"))
	if want := []Key{{"a", "db"}, {"b", "db"}}; !slices.Equal(changed, want) {
		t.Fatalf("Evict changed %v, want %v", changed, want)
	}
	if got := c.Addrs(Key{"a", "db"}); !slices.Equal(got, ips("10.0.0.3")) {
		t.Fatalf("a/db = %v", got)
	}
	ch := c.Update(Key{"b", "db"}, Answer{}, &LookupError{Err: ErrNotFound}, now)
	if len(ch.Addrs) != 0 || len(ch.Removed) != 0 {
		t.Fatalf("evicted address reported again: %+v", ch)
	}
	c.Forget("b", []string{"web"})
	if c.Addrs(Key{"b", "web"}) == nil || c.Addrs(Key{"a", "db"}) == nil {
		t.Fatal("Forget dropped a kept name or another scope")
	}
	c.Forget("b", nil)
	if c.Addrs(Key{"b", "web"}) != nil {
		t.Fatal("Forget(scope, nil) kept a name")
	}
}

// TestCacheLimit: retained addresses never exceed labels.MaxAddrsPerName;
// those expiring first make room.
func TestCacheLimit(t *testing.T) {
	now := time.Now()
	var c Cache
	k := Key{Name: "cdn.example"}
	var old []string
	for i := range labels.MaxAddrsPerName {
		old = append(old, fmt.Sprintf("10.1.%d.%d", i/250, i%250+1))
	}
	c.Update(k, ans(60*time.Second, old...), nil, now)
	ch := c.Update(k, ans(300*time.Second, "192.0.2.1", "192.0.2.2"), nil, now.Add(time.Second))
	if len(ch.Addrs) != labels.MaxAddrsPerName || len(ch.Removed) != 2 || !slices.Contains(ch.Addrs, netip.MustParseAddr("192.0.2.2")) {
		t.Fatalf("%d addresses, removed %v", len(ch.Addrs), ch.Removed)
	}
	if !errors.Is(ErrTooManyAddresses, labels.ErrTooManyAddresses) {
		t.Fatal("ErrTooManyAddresses is not labels.ErrTooManyAddresses")
	}
}

// TestCacheMaxRetention: an answer with a TTL of days keeps its address
// MaxRetention at most.
func TestCacheMaxRetention(t *testing.T) {
	var c Cache
	k := Key{Scope: "ctr", Name: "cdn.example"}
	t0 := time.Now()
	a := netip.MustParseAddr("192.0.2.7")
	c.Update(k, Answer{Name: k.Name, Addrs: []Addr{{Addr: a, TTL: 400 * 24 * time.Hour}}}, nil, t0)
	if got := c.Update(k, Answer{}, &LookupError{Err: ErrTimeout}, t0.Add(MaxRetention-time.Second)).Addrs; len(got) != 1 {
		t.Fatalf("address gone before MaxRetention: %v", got)
	}
	if got := c.Update(k, Answer{}, &LookupError{Err: ErrTimeout}, t0.Add(MaxRetention)).Addrs; len(got) != 0 {
		t.Fatalf("address kept past MaxRetention: %v", got)
	}
}

// TestTTLTopBit: a TTL with the top bit set is zero (RFC 2181).
func TestTTLTopBit(t *testing.T) {
	for _, tt := range []struct {
		in   uint32
		want time.Duration
	}{{0, 0}, {600, 600 * time.Second}, {1<<31 - 1, (1<<31 - 1) * time.Second}, {1 << 31, 0}, {^uint32(0), 0}} {
		if got := ttlOf(tt.in); got != tt.want {
			t.Errorf("ttlOf(%d) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
