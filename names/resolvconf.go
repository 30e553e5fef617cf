package names

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/dcfw/dcfw/labels"
	"github.com/miekg/dns"
)

// Config is the resolver Lookup asks: nameservers, search domains, limits.
type Config struct {
	// Servers are the nameservers, in order; port 53 unless written.
	Servers []netip.AddrPort
	// Search are the search domains, without trailing dots.
	Search []string
	// Timeout is how long one query waits for its answer.
	Timeout time.Duration
	// Attempts is how often each server is asked before the next one.
	Attempts int
}

// Bounds on what resolv.conf may ask for. dcfw resolves every name of
// every container on every interval; a resolv.conf with `timeout:30
// attempts:5` and three servers must not hold a cycle for minutes. With
// these, a name that times out costs at most MaxQueryTimeout ×
// MaxAttempts × MaxServers = 12 s, and Lookup's context bounds it further.
const (
	MaxQueryTimeout = 2 * time.Second
	MaxAttempts     = 2
	MaxServers      = 3
	MaxSearch       = 6
)

// ParseResolvConf reads a resolv.conf (the host's, for containers the
// engine gives the host's nameservers). Only
// nameservers that are IP addresses count (there is nobody to resolve a
// name for them); timeout and attempts are capped by MaxQueryTimeout and
// MaxAttempts, servers by MaxServers and search domains by MaxSearch.
// Without a usable nameserver it returns ErrNoNameserver.
func ParseResolvConf(b []byte) (Config, error) {
	cc, err := dns.ClientConfigFromReader(bytes.NewReader(b))
	if err != nil {
		return Config{}, fmt.Errorf("resolv.conf: %w", err)
	}
	conf := Config{
		Timeout:  min(time.Duration(cc.Timeout)*time.Second, MaxQueryTimeout),
		Attempts: min(max(cc.Attempts, 1), MaxAttempts),
	}
	for _, s := range cc.Servers {
		a, err := netip.ParseAddr(s)
		if err != nil || len(conf.Servers) == MaxServers {
			continue
		}
		conf.Servers = append(conf.Servers, netip.AddrPortFrom(a, 53))
	}
	for _, d := range cc.Search {
		// A domain that is no DNS name (".", "a..b") could only make
		// candidates no server answers.
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if labels.ValidName(d) && len(conf.Search) < MaxSearch {
			conf.Search = append(conf.Search, d)
		}
	}
	if len(conf.Servers) == 0 {
		return conf, ErrNoNameserver
	}
	return conf, nil
}

// candidates returns the fully qualified names to ask for name, in order:
// a dotted name as written; a single label as written, then with each
// search domain.
func (c Config) candidates(name string) []string {
	name = strings.TrimSuffix(name, ".")
	out := []string{dns.Fqdn(name)}
	if strings.Contains(name, ".") {
		return out
	}
	for _, d := range c.Search {
		out = append(out, dns.Fqdn(name+"."+d))
	}
	return out
}

// maxResolvConf is the most of a resolv.conf ReadResolvConf reads. Real
// ones are a few hundred bytes; a file read through another mount
// namespace's root is not to be trusted with more.
const maxResolvConf = 64 << 10

// ReadResolvConf reads the resolv.conf at path, e.g.
// /proc/1/root/etc/resolv.conf (the host's, through its init's root): only
// a regular file is read, without blocking (a FIFO there must not hang
// dcfw), and at most 64 KiB of it.
func ReadResolvConf(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, fi.Mode().Type())
	}
	return io.ReadAll(io.LimitReader(f, maxResolvConf))
}
