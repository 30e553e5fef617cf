package testnet_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/netnsutil"
)

// threadNS is the identity of the calling thread's network namespace. The
// caller must have locked its thread (or be inside Host.Do).
func threadNS() (netnsutil.ID, error) {
	return netnsutil.StatPath(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
}

// socketNS is the identity of the namespace a socket lives in (SIOCGSKNS).
func socketNS(fd int) (netnsutil.ID, error) {
	nsfd, err := unix.IoctlRetInt(fd, unix.SIOCGSKNS)
	if err != nil {
		return netnsutil.ID{}, err
	}
	defer unix.Close(nsfd)
	var st unix.Stat_t
	if err := unix.Fstat(nsfd, &st); err != nil {
		return netnsutil.ID{}, err
	}
	return netnsutil.ID{Dev: st.Dev, Ino: st.Ino}, nil
}

// ownNS is the namespace the test's threads are in. Not /proc/self/ns/net:
// that is the main thread's, which may be parked elsewhere by code that
// left a locked thread in another namespace.
func ownNS(t *testing.T) netnsutil.ID {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	id, err := threadNS()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Not parallel: it checks the namespace of every thread of the process,
// which other tests' Do calls would change for a moment.
func TestDo(t *testing.T) {
	testenv.RequireNetAdmin(t)
	a, b := testnet.NewNS(t, "do-a"), testnet.NewNS(t, "do-b")
	if a.ID() == b.ID() {
		t.Fatalf("two hosts share namespace %v", a.ID())
	}
	host := ownNS(t)
	if a.ID() == host {
		t.Fatalf("host %s is the process's own namespace", a)
	}

	for _, h := range []*testnet.Host{a, b, a} {
		var inside netnsutil.ID
		if err := h.Do(func() (err error) { inside, err = threadNS(); return }); err != nil {
			t.Fatal(err)
		}
		if inside != h.ID() {
			t.Errorf("inside %s.Do: thread in %v, want %v", h, inside, h.ID())
		}
	}

	// f's error comes back as is.
	errSentinel := errors.New("sentinel")
	if err := a.Do(func() error { return errSentinel }); err != errSentinel {
		t.Errorf("Do returned %v, want f's error", err)
	}

	// A panic in f reaches the caller; the thread still goes back.
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		a.Do(func() error { panic("boom") })
		t.Error("Do returned after f panicked")
	}()

	// A socket made inside stays in the namespace, whoever uses it later.
	var ln net.Listener
	if err := a.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if id, err := socketNS(int(f.Fd())); err != nil || id != a.ID() {
		t.Errorf("listener made in %s.Do lives in %v (%v), want %v", a, id, err, a.ID())
	}

	// No thread of the process was left behind in a test namespace.
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tasks {
		id, err := netnsutil.StatPath(p)
		if errors.Is(err, netnsutil.ErrNotFound) {
			continue // thread exited meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		if id != host {
			t.Errorf("%s is in %v, not the process's namespace %v", p, id, host)
		}
	}
}

// Everything a test creates is gone when it ends: the bind mounts, the
// links, and every reference the process held to the namespaces (threads,
// namespace fds, sockets), so the kernel can free them. Not parallel: a
// freed namespace inode may be reused by another test's new namespace.
func TestCleanupLeavesNothing(t *testing.T) {
	testenv.RequireNetAdmin(t)
	suffix := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	ifA, ifB := "dta"+suffix, "dtb"+suffix // unique, so the host check is meaningful
	var hosts []struct {
		name string
		id   netnsutil.ID
	}

	t.Run("inner", func(t *testing.T) {
		a, b := testnet.NewNS(t, "gone-a"), testnet.NewNS(t, "gone-b")
		testnet.Link(t,
			a, testnet.End{Name: ifA, IPv4: "10.99.9.1/24", IPv6: "fd00:99:9::1/64"},
			b, testnet.End{Name: ifB, IPv4: "10.99.9.2/24", IPv6: "fd00:99:9::2/64"})
		b.ListenTCP(t, "[::]:80")
		b.ListenUDP(t, "[::]:53")
		if got := a.DialTCP("10.99.9.2:80", 5*time.Second); got != testnet.Connected {
			t.Fatalf("dial: %v", got)
		}
		if got := a.ExchangeUDP("[fd00:99:9::2]:53", 5*time.Second); got != testnet.Answered {
			t.Fatalf("udp: %v", got)
		}
		if got := a.Ping("10.99.9.2", 5*time.Second); got != testnet.Answered {
			t.Fatalf("ping: %v", got)
		}
		a.NFT(t, "add table inet t")
		for _, h := range []*testnet.Host{a, b} {
			if _, err := os.Stat(h.Path()); err != nil {
				t.Fatalf("namespace file of %s: %v", h, err)
			}
			hosts = append(hosts, struct {
				name string
				id   netnsutil.ID
			}{h.Name(), h.ID()})
		}
		// The detector below sees what the test holds now (namespace fds,
		// netlink and server sockets), so its silence later means something.
		held := map[netnsutil.ID]string{a.ID(): a.Name(), b.ID(): b.Name()}
		if refs := references(t, held); len(refs) < 4 {
			t.Fatalf("reference detector found only %q", refs)
		}
		// The veth never appears in the host's namespace, not even now.
		for _, name := range []string{ifA, ifB} {
			if _, err := netlink.LinkByName(name); err == nil {
				t.Errorf("link %s exists in the host's namespace", name)
			}
		}
	})
	if len(hosts) != 2 {
		t.Fatal("inner test did not get far enough")
	}

	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		p := filepath.Join(testnet.NetnsDir, h.name)
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists (%v)", p, err)
		}
		if strings.Contains(string(mounts), " "+p+" ") {
			t.Errorf("%s still mounted", p)
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if n := l.Attrs().Name; n == ifA || n == ifB {
			t.Errorf("link %s left in the host's namespace", n)
		}
	}

	held := map[netnsutil.ID]string{}
	for _, h := range hosts {
		held[h.id] = h.name
	}
	for _, ref := range references(t, held) {
		t.Errorf("still held: %s", ref)
	}
}

// references lists what in this process refers to one of the namespaces in
// held: a thread inside it, an open namespace file, or a socket in it.
func references(t *testing.T, held map[netnsutil.ID]string) []string {
	t.Helper()
	var refs []string
	for _, p := range mustGlob(t, "/proc/self/task/*/ns/net") {
		if id, err := netnsutil.StatPath(p); err == nil && held[id] != "" {
			refs = append(refs, fmt.Sprintf("thread %s in %s", p, held[id]))
		}
	}
	for _, p := range mustGlob(t, "/proc/self/fd/*") {
		target, err := os.Readlink(p)
		if err != nil {
			continue // closed meanwhile (the glob's own fd)
		}
		var id netnsutil.ID
		switch {
		case strings.HasPrefix(target, "net:["):
			id, err = netnsutil.StatPath(p)
		case strings.HasPrefix(target, "socket:["):
			var fd int
			if _, err = fmt.Sscanf(filepath.Base(p), "%d", &fd); err == nil {
				id, err = socketNS(fd)
			}
		default:
			continue
		}
		if err == nil && held[id] != "" {
			refs = append(refs, fmt.Sprintf("fd %s (%s) in %s", p, target, held[id]))
		}
	}
	return refs
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		t.Fatalf("glob %s: %v %v", pattern, m, err)
	}
	return m
}

// Sysctls set by NewNS and Host.Sysctl change the test's namespace only;
// the host's values stay as they were.
func TestSysctlStaysInside(t *testing.T) {
	testenv.RequireNetAdmin(t)
	t.Parallel()
	readErr := func(key string) (string, error) {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		return strings.TrimSpace(string(b)), err
	}
	read := func(key string) string {
		t.Helper()
		v, err := readErr(key)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	keys := []string{"net.ipv4.icmp_ratelimit", "net.ipv6.icmp.ratelimit",
		"net.ipv6.conf.default.accept_dad", "net.ipv4.ip_default_ttl"}
	before := map[string]string{}
	for _, k := range keys {
		before[k] = read(k) // this goroutine's thread is in the host's namespace
	}
	ttl := "63"
	if before["net.ipv4.ip_default_ttl"] == ttl {
		ttl = "62"
	}

	h := testnet.NewNS(t, "sysctl")
	h.Sysctl(t, "net.ipv4.ip_default_ttl", ttl)
	want := map[string]string{
		"net.ipv4.icmp_ratelimit":          "0",
		"net.ipv6.icmp.ratelimit":          "0",
		"net.ipv6.conf.default.accept_dad": "0",
		"net.ipv4.ip_default_ttl":          ttl,
	}
	for _, k := range keys {
		var got string
		if err := h.Do(func() (err error) { got, err = readErr(k); return err }); err != nil {
			t.Fatal(err)
		}
		if got != want[k] {
			t.Errorf("%s in %s = %s, want %s", k, h, got, want[k])
		}
		if got := read(k); got != before[k] {
			t.Errorf("host's %s changed from %s to %s", k, before[k], got)
		}
	}
}
