package names

import (
	"cmp"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/dcfw/dcfw/labels"
)

// MinRetention is the least time an address stays with its name after the
// last answer that held it, whatever the answer's TTL. Resolvers and CDNs
// give TTLs of a few seconds and rotate their answers; a connection opened
// to an address of one answer must not be cut because the next answer,
// seconds later, holds others. 30 s covers dcfw's default interval (10 s)
// three times over. The answer's TTL, when longer, wins.
const MinRetention = 30 * time.Second

// MaxRetention bounds how long one answer keeps an address: a TTL of days
// (or, forged, of decades) must not keep an address its name has left
// allowed for as long. A day is longer than any CDN's TTL.
const MaxRetention = 24 * time.Hour

// Cache keeps the addresses of names, per key (a container and a name,
// say): see Update. Safe for concurrent use.
type Cache struct {
	// Min is the least retention; zero means MinRetention.
	Min time.Duration

	mu      sync.Mutex
	entries map[Key]*entry
}

// Key names one cached name: the same name may mean different things to
// two containers (their own networks, their own resolv.conf).
type Key struct {
	Scope string // e.g. the container's namespace identity
	Name  string
}

type entry struct {
	expiry map[netip.Addr]time.Time
	state  error // the sentinel of the last lookup, nil when it resolved
	seen   bool  // state is set
}

// Change is what one Update did to a name.
type Change struct {
	// Addrs are the name's addresses now, sorted: what its sets hold.
	Addrs []netip.Addr
	// Added and Removed are the addresses that came and went, sorted.
	Added, Removed []netip.Addr
	// State is the sentinel of this lookup (nil: it resolved), and
	// StateChanged whether it differs from the one before (the first
	// Update of a name counts as a change): log it then, not every time.
	State        error
	StateChanged bool
}

// Update records the outcome of a lookup of k at now and returns the
// name's addresses. Every address of ans stays until max(its TTL, Min)
// after now (never less than an earlier answer promised). A failed lookup
// (err non-nil) adds nothing and keeps the addresses that have not
// expired: a timeout must not empty a set that was right a moment ago, and
// an address that the answer held stays the TTL it was given. Expired
// addresses go. When more than labels.MaxAddrsPerName addresses would
// remain, those that expire first go first.
func (c *Cache) Update(k Key, ans Answer, err error, now time.Time) Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[Key]*entry{}
	}
	e := c.entries[k]
	if e == nil {
		e = &entry{expiry: map[netip.Addr]time.Time{}}
		c.entries[k] = e
	}
	before := e.addrs()
	state := stateOf(err)
	ch := Change{State: state, StateChanged: !e.seen || e.state != state}
	e.state, e.seen = state, true
	if err == nil {
		minRet := cmp.Or(c.Min, MinRetention)
		for _, a := range ans.Addrs {
			until := now.Add(min(max(a.TTL, minRet), MaxRetention))
			if until.After(e.expiry[a.Addr]) {
				e.expiry[a.Addr] = until
			}
		}
	}
	for a, until := range e.expiry {
		if !until.After(now) {
			delete(e.expiry, a)
		}
	}
	if over := len(e.expiry) - labels.MaxAddrsPerName; over > 0 {
		byExpiry := e.addrs()
		slices.SortStableFunc(byExpiry, func(a, b netip.Addr) int { return e.expiry[a].Compare(e.expiry[b]) })
		for _, a := range byExpiry[:over] {
			delete(e.expiry, a)
		}
	}
	ch.Addrs = e.addrs()
	ch.Added, ch.Removed = diffAddrs(before, ch.Addrs)
	return ch
}

// Evict drops addrs from every name at once, whatever their TTL: the
// addresses of a container that stopped, which the engine may give to the
// next container. It returns the keys whose addresses changed.
func (c *Cache) Evict(addrs ...netip.Addr) []Key {
	c.mu.Lock()
	defer c.mu.Unlock()
	var changed []Key
	for k, e := range c.entries {
		n := len(e.expiry)
		for _, a := range addrs {
			delete(e.expiry, a.Unmap())
		}
		if len(e.expiry) != n {
			changed = append(changed, k)
		}
	}
	slices.SortFunc(changed, func(a, b Key) int { return cmp.Or(cmp.Compare(a.Scope, b.Scope), cmp.Compare(a.Name, b.Name)) })
	return changed
}

// Addrs returns the addresses of k as they are (nil when unknown).
func (c *Cache) Addrs(k Key) []netip.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[k]; e != nil {
		return e.addrs()
	}
	return nil
}

// Forget drops every name of scope (a container that is gone), or only
// those not in keep when keep is non-nil (names its rules no longer use).
func (c *Cache) Forget(scope string, keep []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k.Scope == scope && (keep == nil || !slices.Contains(keep, k.Name)) {
			delete(c.entries, k)
		}
	}
}

func (e *entry) addrs() []netip.Addr {
	if len(e.expiry) == 0 {
		return nil
	}
	out := make([]netip.Addr, 0, len(e.expiry))
	for a := range e.expiry {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// stateOf reduces a lookup error to its sentinel, so that states compare.
func stateOf(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range []error{ErrNotFound, ErrNoAddress, ErrTimeout, ErrServerFailure, ErrNoNameserver, ErrTooManyAddresses} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

// diffAddrs returns the addresses of after not in before, and those of
// before not in after; both sorted and unique.
func diffAddrs(before, after []netip.Addr) (added, removed []netip.Addr) {
	for _, a := range after {
		if _, found := slices.BinarySearchFunc(before, a, netip.Addr.Compare); !found {
			added = append(added, a)
		}
	}
	for _, a := range before {
		if _, found := slices.BinarySearchFunc(after, a, netip.Addr.Compare); !found {
			removed = append(removed, a)
		}
	}
	return added, removed
}
