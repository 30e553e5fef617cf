package testnet

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/netnsutil"
)

// NetnsDir is where named namespaces are bind-mounted, the directory
// `ip netns` uses, so `ip netns exec <name> ...` works on them.
const NetnsDir = "/var/run/netns"

// NamePrefix starts the name of every namespace this package creates, so a
// leftover from a killed test run is easy to recognise (`ip netns list`).
const NamePrefix = "dcfwt-"

// Host is a network namespace created for one test, named and bind-mounted
// under NetnsDir. It is removed when the test that created it ends.
type Host struct {
	t    testing.TB
	name string // full namespace name, e.g. dcfwt-srv-1a2b3c4d
	path string
	ns   *netnsutil.NS
	nl   *netlink.Handle // rtnetlink socket inside the namespace
}

// NewNS creates a fresh network namespace for t, with only `lo` (up), and
// registers its removal with t.Cleanup. label is a short word for humans
// (e.g. "srv", "client"); the namespace is named NamePrefix + label + "-" +
// random hex, so parallel tests and packages never collide.
//
// Inside the namespace (never on the host) it also turns off ICMP rate
// limiting, so many refused probes in a row all get their port-unreachable,
// and IPv6 duplicate address detection, so addresses are usable at once.
//
// NewNS skips t (fails it under CI) when namespaces cannot be created.
func NewNS(t testing.TB, label string) *Host {
	t.Helper()
	testenv.RequireNetAdmin(t)

	name := NamePrefix + sanitize(label) + "-" + randomHex(4)
	path := filepath.Join(NetnsDir, name)
	if err := createNamed(path); err != nil {
		t.Fatalf("testnet: create namespace %s: %v", name, err)
	}
	h := &Host{t: t, name: name, path: path}
	// Registered first so it runs last: sockets and links registered later
	// by the test are gone before the namespace itself is unmounted.
	t.Cleanup(func() {
		if err := h.remove(); err != nil {
			t.Errorf("testnet: remove namespace %s: %v", name, err)
		}
	})

	ns, err := netnsutil.OpenPath(path)
	if err != nil {
		t.Fatalf("testnet: open namespace %s: %v", name, err)
	}
	h.ns = ns
	h.nl, err = netlink.NewHandleAt(netns.NsHandle(ns.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("testnet: netlink handle in %s: %v", name, err)
	}

	for _, kv := range [][2]string{
		{"net.ipv4.icmp_ratelimit", "0"},
		{"net.ipv6.icmp.ratelimit", "0"},
		{"net.ipv6.conf.all.accept_dad", "0"},
		{"net.ipv6.conf.default.accept_dad", "0"},
	} {
		h.Sysctl(t, kv[0], kv[1])
	}
	lo, err := h.nl.LinkByName("lo")
	if err == nil {
		err = h.nl.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("testnet: bring lo up in %s: %v", name, err)
	}
	return h
}

// Name is the namespace's name, as `ip netns exec <Name> ...` wants it.
func (h *Host) Name() string { return h.name }

// String is the name, for messages.
func (h *Host) String() string { return h.name }

// Path is the namespace's bind mount, e.g. /var/run/netns/dcfwt-srv-1a2b3c4d.
func (h *Host) Path() string { return h.path }

// Fd is an open file descriptor of the namespace, valid until the test's
// cleanup; e.g. for nftables.WithNetNSFd. Do not close it.
func (h *Host) Fd() int { return h.ns.Fd() }

// ID is the namespace's identity (device and inode of its nsfs file).
func (h *Host) ID() netnsutil.ID { return h.ns.ID() }

// Netlink is an rtnetlink handle inside the namespace, for tests that need
// more than this package offers (routes, extra addresses, link state). It is
// closed at cleanup; do not close it.
func (h *Host) Netlink() *netlink.Handle { return h.nl }

// Do runs f with the calling thread in h's namespace and returns f's error.
//
// f runs on a separate goroutine locked to its OS thread, inside the
// namespace (netnsutil.Do). Because of that:
//   - f must not call t.Fatal/t.FailNow/t.Skip (wrong goroutine); return an
//     error instead. A panic in f is re-raised in the caller.
//   - goroutines that f starts do NOT run in the namespace.
//   - sockets (and netlink handles) that f creates stay in the namespace
//     for life and may be used from any goroutine after Do returns.
func (h *Host) Do(f func() error) error {
	var panicked bool
	var value any
	err := netnsutil.Do(h.ns.Fd(), func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				panicked, value = true, v
			}
		}()
		return f()
	})
	if panicked {
		panic(value)
	}
	return err
}

// Sysctl sets a sysctl inside h's namespace (only per-namespace ones, under
// net.), e.g. h.Sysctl(t, "net.ipv4.ip_forward", "1"). It fails t on error.
func (h *Host) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	if !strings.HasPrefix(key, "net.") {
		t.Fatalf("testnet: sysctl %s: only net.* sysctls are per namespace", key)
	}
	p := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	err := h.Do(func() error { return os.WriteFile(p, []byte(value), 0) })
	if err != nil {
		t.Fatalf("testnet: sysctl %s=%s in %s: %v", key, value, h.name, err)
	}
}

// remove closes our handles and removes the bind mount. The kernel destroys
// the namespace (and any interface left in it) once nothing references it.
func (h *Host) remove() error {
	if h.nl != nil {
		h.nl.Close()
	}
	var errs []error
	if h.ns != nil {
		if err := h.ns.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := unix.Unmount(h.path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("unmount: %w", err))
	}
	if err := os.Remove(h.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// createNamed creates a network namespace and bind-mounts it at path, the
// way `ip netns add` does: on a locked thread that unshares, mounts its own
// namespace file and goes back. If going back fails the thread stays locked
// and the runtime discards it. It must not simply stay locked either way:
// when the goroutine happens to run on the main thread, which the runtime
// cannot end, that thread would be parked for good inside the namespace,
// keeping it alive and making /proc/self/ns/net name it.
func createNamed(path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer back.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread() // still in the original namespace
			done <- fmt.Errorf("unshare: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		err = unix.Mount(self, path, "", unix.MS_BIND, "")
		if err != nil {
			err = fmt.Errorf("bind mount: %w", err)
		}
		if unix.Setns(int(back), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// sanitize keeps labels short and usable in a file name.
func sanitize(label string) string {
	s := unsafeChars.ReplaceAllString(label, "_")
	if len(s) > 24 {
		s = s[:24]
	}
	if s == "" {
		s = "ns"
	}
	return s
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails on Linux (Go 1.24+ crashes the program instead)
	return b
}
