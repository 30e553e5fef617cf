package names

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/dcfw/dcfw/labels"
)

// Addr is one address of a name with the TTL the answer gave it.
type Addr struct {
	Addr netip.Addr
	TTL  time.Duration
}

// Answer is what Lookup found for a name.
type Answer struct {
	// Name is the fully qualified name that answered (the name, or the
	// name with a search domain).
	Name string
	// Addrs are the IPv4 and IPv6 addresses, sorted, each once (with the
	// longest TTL it was given).
	Addrs []Addr
	// Unanswered, when set, is why one family's query failed (a
	// *LookupError: timeout or server failure) while the other answered:
	// that family's addresses are unknown, not absent. UnansweredV6 says
	// which family.
	Unanswered   error
	UnansweredV6 bool
}

// Resolver looks names up in one namespace with one resolv.conf.
type Resolver struct {
	// Dial opens the query sockets, e.g. DialIn(ns.Fd()).
	Dial DialFunc
	// Config is the container's resolv.conf (ParseResolvConf).
	Config Config
}

// Lookup resolves name (canonical as labels gives it: lower case, no
// trailing dot) to its IPv4 and IPv6 addresses: the first candidate name
// (see the package doc) that exists and has an address answers. The error
// is a *LookupError wrapping one of the package's sentinels. ctx bounds
// the whole lookup; Config's timeouts bound each query.
func (r *Resolver) Lookup(ctx context.Context, name string) (Answer, error) {
	fail := func(sentinel, cause error) (Answer, error) {
		return Answer{}, &LookupError{Name: name, Err: sentinel, Cause: cause}
	}
	if len(r.Config.Servers) == 0 {
		return fail(ErrNoNameserver, nil)
	}
	// The state of the most telling candidate: a name that exists without
	// an address says more than NXDOMAIN for a search domain; a failure
	// more than either, since the name may exist.
	worst, worstCause := error(ErrNotFound), error(nil)
	rank := map[error]int{ErrNotFound: 0, ErrNoAddress: 1, ErrServerFailure: 2, ErrTimeout: 3}
	for _, fqdn := range r.Config.candidates(name) {
		addrs, err, cause, unanswered := r.lookupBoth(ctx, fqdn)
		if err == nil {
			if len(addrs) > labels.MaxAddrsPerName {
				return fail(ErrTooManyAddresses, fmt.Errorf("%s has %d addresses, at most %d are kept", fqdn, len(addrs), labels.MaxAddrsPerName))
			}
			ans := Answer{Name: fqdn, Addrs: addrs}
			if unanswered != nil {
				ans.Unanswered = &LookupError{Name: name, Err: unanswered.err, Cause: unanswered.cause}
				ans.UnansweredV6 = unanswered.v6
			}
			return ans, nil
		}
		if rank[err] > rank[worst] || cause != nil && worstCause == nil && rank[err] == rank[worst] {
			worst, worstCause = err, cause
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fail(worst, worstCause)
}

// unanswered is the family whose query failed while the other answered.
type unanswered struct {
	v6         bool
	err, cause error
}

// lookupBoth asks for A and AAAA of fqdn at once. It succeeds when either
// gives an address: a family that fails this time keeps what the Cache
// retained of it, and is reported (the caller decides what an unknown
// family means for its rules).
func (r *Resolver) lookupBoth(ctx context.Context, fqdn string) ([]Addr, error, error, *unanswered) {
	type result struct {
		addrs []Addr
		err   error
		cause error
	}
	var res [2]result
	var wg sync.WaitGroup
	for i, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i].addrs, res[i].err, res[i].cause = r.query(ctx, fqdn, qtype)
		}()
	}
	wg.Wait()
	addrs := append(res[0].addrs, res[1].addrs...)
	if len(addrs) > 0 {
		var un *unanswered
		for i, x := range res {
			if x.err == ErrTimeout || x.err == ErrServerFailure {
				un = &unanswered{v6: i == 1, err: x.err, cause: x.cause}
			}
		}
		return mergeAddrs(addrs), nil, nil, un
	}
	// Neither has an address: the more telling of the two states.
	a, b := res[0], res[1]
	if a.err == ErrNoAddress || a.err == ErrNotFound {
		a, b = b, a
	}
	switch {
	case a.err == ErrTimeout || a.err == ErrServerFailure:
		return nil, a.err, a.cause, nil
	case a.err == ErrNoAddress || b.err == ErrNoAddress:
		return nil, ErrNoAddress, nil, nil
	}
	return nil, ErrNotFound, nil, nil
}

// mergeAddrs sorts addrs and keeps each address once, with its longest TTL.
func mergeAddrs(addrs []Addr) []Addr {
	slices.SortFunc(addrs, func(a, b Addr) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		return -int(a.TTL - b.TTL)
	})
	return slices.CompactFunc(addrs, func(a, b Addr) bool { return a.Addr == b.Addr })
}

// query asks the servers in turn (Attempts times each) for one record type
// of fqdn, until one answers. err is nil (addresses found), ErrNotFound,
// ErrNoAddress, ErrTimeout or ErrServerFailure.
func (r *Resolver) query(ctx context.Context, fqdn string, qtype uint16) (addrs []Addr, err, cause error) {
	m := new(dns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.RecursionDesired = true
	err = ErrTimeout
	for attempt := 0; attempt < max(r.Config.Attempts, 1); attempt++ {
		for _, server := range r.Config.Servers {
			if ctx.Err() != nil {
				return nil, ErrTimeout, ctx.Err()
			}
			resp, xerr := r.exchange(ctx, m, server)
			if xerr != nil {
				if isTimeout(xerr) {
					err, cause = ErrTimeout, xerr
				} else {
					err, cause = ErrServerFailure, xerr
				}
				continue
			}
			addrs, err, cause = interpret(resp, fqdn, qtype)
			if err != ErrServerFailure {
				return addrs, err, cause
			}
		}
	}
	return nil, err, cause
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout()
}

// exchange sends m to server over UDP, and over TCP when the answer came
// back truncated.
func (r *Resolver) exchange(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, error) {
	timeout := r.Config.Timeout
	if timeout <= 0 {
		timeout = MaxQueryTimeout
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := r.exchangeOver(qctx, "udp", m, server, timeout)
	if err == nil && resp.Truncated {
		resp, err = r.exchangeOver(qctx, "tcp", m, server, timeout)
	}
	return resp, err
}

func (r *Resolver) exchangeOver(ctx context.Context, network string, m *dns.Msg, server netip.AddrPort, timeout time.Duration) (*dns.Msg, error) {
	conn, err := r.Dial(ctx, network, server.String())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c := &dns.Client{Net: network, Timeout: timeout}
	resp, _, err := c.ExchangeWithConnContext(ctx, m, &dns.Conn{Conn: conn})
	return resp, err
}

// interpret reads the answer to a query for qtype of fqdn: the addresses
// of fqdn, following CNAMEs within the answer. A record's TTL is the
// smallest along its chain: when a CNAME expires, so does what it pointed
// at.
func interpret(resp *dns.Msg, fqdn string, qtype uint16) ([]Addr, error, error) {
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, ErrNotFound, nil
	default:
		return nil, ErrServerFailure, fmt.Errorf("rcode %s", dns.RcodeToString[resp.Rcode])
	}
	if !resp.Response || len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, fqdn) || resp.Question[0].Qtype != qtype {
		return nil, ErrServerFailure, errors.New("answer to another question")
	}
	// Owner names of the chain, with the smallest TTL to reach them.
	chain := map[string]uint32{strings.ToLower(fqdn): ^uint32(0)}
	for changed := true; changed; {
		changed = false
		for _, rr := range resp.Answer {
			cn, ok := rr.(*dns.CNAME)
			if !ok {
				continue
			}
			ttl, ok := chain[strings.ToLower(cn.Hdr.Name)]
			target := strings.ToLower(cn.Target)
			if _, seen := chain[target]; ok && !seen {
				chain[target] = min(ttl, cn.Hdr.Ttl)
				changed = true
			}
		}
	}
	var addrs []Addr
	for _, rr := range resp.Answer {
		ttl, ok := chain[strings.ToLower(rr.Header().Name)]
		if !ok {
			continue
		}
		var ip net.IP
		switch v := rr.(type) {
		case *dns.A:
			ip = v.A
		case *dns.AAAA:
			ip = v.AAAA
		default:
			continue
		}
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		a = a.Unmap()
		if qtype == dns.TypeA && !a.Is4() || qtype == dns.TypeAAAA && a.Is4() {
			continue
		}
		addrs = append(addrs, Addr{Addr: a, TTL: ttlOf(min(ttl, rr.Header().Ttl))})
	}
	if len(addrs) == 0 {
		return nil, ErrNoAddress, nil
	}
	return addrs, nil, nil
}

// MaxParallelLookups bounds the lookups LookupAll runs at once: each is
// two queries in flight, and dcfw shares its cores with the containers.
const MaxParallelLookups = 8

// Result is the outcome of one name of LookupAll.
type Result struct {
	Name   string
	Answer Answer
	Err    error
}

// LookupAll looks up every name (at most MaxParallelLookups at once) and
// returns the results in the order of names.
func (r *Resolver) LookupAll(ctx context.Context, names []string) []Result {
	out := make([]Result, len(names))
	sem := make(chan struct{}, MaxParallelLookups)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ans, err := r.Lookup(ctx, name)
			out[i] = Result{Name: name, Answer: ans, Err: err}
		}()
	}
	wg.Wait()
	return out
}

// ttlOf is a TTL as RFC 2181 (8) reads it: a value with the top bit set is
// zero.
func ttlOf(ttl uint32) time.Duration {
	if ttl >= 1<<31 {
		return 0
	}
	return time.Duration(ttl) * time.Second
}
