package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"

	"github.com/dcfw/dcfw/names"
)

// NameResolver looks up the names of a namespace's rules the way its
// container would: inside the namespace, with the container's resolv.conf.
// NSResolver is the real one; the controller's tests use a fake.
type NameResolver interface {
	// Resolve returns one result per name of q, in order. It must not
	// keep q.NS beyond the call, and must end when ctx does.
	Resolve(ctx context.Context, q NameQuery) []names.Result
	// Upstream are the nameservers the engine's DNS forwards to for a
	// container given dns (its --dns, else the host's): the only ones a
	// namespace locked down for its names may still ask.
	Upstream(dns []netip.Addr) []netip.Addr
}

// NameQuery is what one namespace's names are resolved with.
type NameQuery struct {
	NS Namespace
	// Embedded: the container is on a user-defined network, so its
	// resolver is the engine's embedded DNS (127.0.0.11 inside its
	// namespace); otherwise it is the host's nameservers, as the engine
	// copies them into containers on the default bridge.
	Embedded bool
	// DNS are the nameservers the container was given (--dns), if any.
	DNS   []netip.Addr
	Names []string
}

// EmbeddedDNS is where the engine's embedded DNS answers inside every
// namespace of a container on a user-defined network.
var EmbeddedDNS = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 11}), 53)

// NSResolver is the NameResolver on package names: queries are sent from
// sockets created inside the container's namespace, to the resolver the
// engine gave the container. The container's own resolv.conf is never
// read: it is the container's to rewrite, and a hostile one would name a
// server of its own (on its loopback) that answers any address it likes.
type NSResolver struct {
	// ProcDir is where the host's procfs is mounted (default /proc); the
	// host's resolv.conf is read through its init's root.
	ProcDir string
	// HostResolvConf overrides where the host's resolv.conf is read.
	HostResolvConf string
	// Embedded overrides EmbeddedDNS (tests).
	Embedded netip.AddrPort
}

var _ NameResolver = NSResolver{}

// Resolve implements NameResolver.
func (r NSResolver) Resolve(ctx context.Context, q NameQuery) []names.Result {
	conf, err := r.config(q)
	if err != nil {
		return noNameserver(q.Names, err)
	}
	res := names.Resolver{Dial: names.DialIn(q.NS.Fd()), Config: conf}
	return res.LookupAll(ctx, q.Names)
}

// Upstream implements NameResolver: the container's own nameservers, else
// the host's, outside loopback; nil when none are known.
func (r NSResolver) Upstream(dns []netip.Addr) []netip.Addr {
	conf, err := r.upstreamConfig(dns)
	if err != nil {
		return nil
	}
	out := make([]netip.Addr, len(conf.Servers))
	for i, s := range conf.Servers {
		out[i] = s.Addr()
	}
	return out
}

// noNameserver is every name failed: no nameserver could be asked.
func noNameserver(want []string, cause error) []names.Result {
	out := make([]names.Result, len(want))
	for i, n := range want {
		out[i] = names.Result{Name: n, Err: &names.LookupError{Name: n, Err: names.ErrNoNameserver, Cause: cause}}
	}
	return out
}

// config is the resolver the engine gave the container: its embedded DNS
// on user-defined networks, else the nameservers it was given (--dns) or
// the host's, without loopback ones (the engine leaves those out too:
// inside the container's namespace a loopback address is the container's
// own).
func (r NSResolver) config(q NameQuery) (names.Config, error) {
	if q.Embedded {
		conf := names.Config{Servers: []netip.AddrPort{EmbeddedDNS}, Timeout: names.MaxQueryTimeout, Attempts: names.MaxAttempts}
		if r.Embedded.IsValid() {
			conf.Servers[0] = r.Embedded
		}
		return conf, nil
	}
	return r.upstreamConfig(q.DNS)
}

// upstreamConfig is the container's own nameservers, else the host's.
func (r NSResolver) upstreamConfig(dns []netip.Addr) (names.Config, error) {
	conf := names.Config{Timeout: names.MaxQueryTimeout, Attempts: names.MaxAttempts}
	for _, a := range dns {
		if !a.IsLoopback() && len(conf.Servers) < names.MaxServers {
			conf.Servers = append(conf.Servers, netip.AddrPortFrom(a.Unmap(), 53))
		}
	}
	if len(conf.Servers) > 0 {
		return conf, nil
	}
	return r.hostConfig()
}

// hostConfig reads the host's resolv.conf and, where it names only
// loopback servers (a local stub such as systemd-resolved's), the stub's
// list of upstream servers, which is what the engine uses then.
func (r NSResolver) hostConfig() (names.Config, error) {
	procDir := r.ProcDir
	if procDir == "" {
		procDir = "/proc"
	}
	paths := []string{filepath.Join(procDir, "1", "root", "etc", "resolv.conf"),
		filepath.Join(procDir, "1", "root", "run", "systemd", "resolve", "resolv.conf")}
	if r.HostResolvConf != "" {
		paths = []string{r.HostResolvConf}
	}
	var errs []error
	for _, p := range paths {
		b, err := names.ReadResolvConf(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		conf, err := names.ParseResolvConf(b)
		conf.Servers = slices.DeleteFunc(conf.Servers, func(s netip.AddrPort) bool { return s.Addr().IsLoopback() })
		if err == nil && len(conf.Servers) > 0 {
			return conf, nil
		}
		errs = append(errs, fmt.Errorf("%s: no nameserver outside loopback", p))
	}
	return names.Config{}, errors.Join(errs...)
}
