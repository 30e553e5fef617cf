package reconcile

import (
	"fmt"
	"sync"

	"github.com/dcfw/dcfw/netnsutil"
)

// FakeNamespaces maps PIDs and sandbox keys to namespace identities, for
// tests. Several PIDs may map to one identity (a shared namespace), and a
// PID may map to the host's identity. It counts opens and closes, so tests
// can check that nothing leaks. Safe for concurrent use.
type FakeNamespaces struct {
	mu        sync.Mutex
	Host      netnsutil.ID
	pids      map[int]netnsutil.ID
	sandboxes map[string]netnsutil.ID
	errs      map[int]error
	open      int
	opens     int
}

var _ Namespaces = (*FakeNamespaces)(nil)

// NewFakeNamespaces returns namespaces with the given host identity.
func NewFakeNamespaces(host netnsutil.ID) *FakeNamespaces {
	return &FakeNamespaces{
		Host:      host,
		pids:      map[int]netnsutil.ID{},
		sandboxes: map[string]netnsutil.ID{},
		errs:      map[int]error{},
	}
}

// SetPID makes pid's namespace id (and forgets an error set for it).
func (f *FakeNamespaces) SetPID(pid int, id netnsutil.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pids[pid] = id
	delete(f.errs, pid)
}

// SetSandbox makes the sandbox file key hold namespace id.
func (f *FakeNamespaces) SetSandbox(key string, id netnsutil.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sandboxes[key] = id
}

// Lookup returns pid's namespace identity without opening it.
func (f *FakeNamespaces) Lookup(pid int) (netnsutil.ID, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.pids[pid]
	return id, ok
}

// KillPID makes pid disappear, as when a process exits.
func (f *FakeNamespaces) KillPID(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pids, pid)
}

// FailPID makes opening pid fail with err.
func (f *FakeNamespaces) FailPID(pid int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[pid] = err
}

// Open returns how many namespaces are open now; Opens how many were opened.
func (f *FakeNamespaces) Open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open
}

func (f *FakeNamespaces) Opens() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens
}

// OpenPID implements Namespaces.
func (f *FakeNamespaces) OpenPID(pid int) (Namespace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[pid]; err != nil {
		return nil, err
	}
	id, ok := f.pids[pid]
	if !ok {
		return nil, fmt.Errorf("pid %d: %w", pid, netnsutil.ErrNotFound)
	}
	return f.newNS(id), nil
}

// OpenSandbox implements Namespaces.
func (f *FakeNamespaces) OpenSandbox(key string) (Namespace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.sandboxes[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, netnsutil.ErrNotFound)
	}
	return f.newNS(id), nil
}

// HostID implements Namespaces.
func (f *FakeNamespaces) HostID() (netnsutil.ID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Host, nil
}

func (f *FakeNamespaces) newNS(id netnsutil.ID) *fakeNS {
	f.open++
	f.opens++
	return &fakeNS{f: f, id: id}
}

type fakeNS struct {
	f      *FakeNamespaces
	id     netnsutil.ID
	closed bool
}

func (n *fakeNS) ID() netnsutil.ID { return n.id }

// Fd is -1: a fake namespace has no file. Only the fake Firewall uses it.
func (n *fakeNS) Fd() int { return -1 }

func (n *fakeNS) Close() error {
	n.f.mu.Lock()
	defer n.f.mu.Unlock()
	if n.closed {
		return fmt.Errorf("namespace %s closed twice", n.id)
	}
	n.closed = true
	n.f.open--
	return nil
}
