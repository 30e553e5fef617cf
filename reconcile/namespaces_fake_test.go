package reconcile

import (
	"fmt"
	"sync"

	"github.com/dcfw/dcfw/netnsutil"
)

// fakeNamespaces maps PIDs and sandbox keys to namespace identities, for
// tests. Several PIDs may map to one identity (a shared namespace), and a
// PID may map to the host's identity. It counts opens and closes, so tests
// can check that nothing leaks. Safe for concurrent use.
type fakeNamespaces struct {
	mu        sync.Mutex
	Host      netnsutil.ID
	pids      map[int]netnsutil.ID
	sandboxes map[string]netnsutil.ID
	errs      map[int]error
	open      int
	opens     int
}

var _ Namespaces = (*fakeNamespaces)(nil)

// newFakeNamespaces returns namespaces with the given host identity.
func newFakeNamespaces(host netnsutil.ID) *fakeNamespaces {
	return &fakeNamespaces{
		Host:      host,
		pids:      map[int]netnsutil.ID{},
		sandboxes: map[string]netnsutil.ID{},
		errs:      map[int]error{},
	}
}

// SetPID makes pid's namespace id (and forgets an error set for it).
func (f *fakeNamespaces) SetPID(pid int, id netnsutil.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pids[pid] = id
	delete(f.errs, pid)
}

// SetSandbox makes the sandbox file key hold namespace id.
func (f *fakeNamespaces) SetSandbox(key string, id netnsutil.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sandboxes[key] = id
}

// Lookup returns pid's namespace identity without opening it.
func (f *fakeNamespaces) Lookup(pid int) (netnsutil.ID, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.pids[pid]
	return id, ok
}

// KillPID makes pid disappear, as when a process exits.
func (f *fakeNamespaces) KillPID(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pids, pid)
}

// FailPID makes opening pid fail with err.
func (f *fakeNamespaces) FailPID(pid int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[pid] = err
}

// Open returns how many namespaces are open now; Opens how many were opened.
func (f *fakeNamespaces) Open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open
}

func (f *fakeNamespaces) Opens() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens
}

// OpenPID implements Namespaces.
func (f *fakeNamespaces) OpenPID(pid int) (Namespace, error) {
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
func (f *fakeNamespaces) OpenSandbox(key string) (Namespace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.sandboxes[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, netnsutil.ErrNotFound)
	}
	return f.newNS(id), nil
}

// HostID implements Namespaces.
func (f *fakeNamespaces) HostID() (netnsutil.ID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Host, nil
}

func (f *fakeNamespaces) newNS(id netnsutil.ID) *fakeNS {
	f.open++
	f.opens++
	return &fakeNS{f: f, id: id}
}

type fakeNS struct {
	f      *fakeNamespaces
	id     netnsutil.ID
	closed bool
}

func (n *fakeNS) ID() netnsutil.ID { return n.id }

// Fd is -1: a fake namespace has no file; the tests' firewall
// (nft.Memory) does not need one.
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
