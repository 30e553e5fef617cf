package reconcile

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dcfw/dcfw/netnsutil"
)

// FakeSandboxDir is an in-memory SandboxDir for tests: the test adds
// sandbox files (with the time each appeared and the identity of its
// namespace) and moves interfaces into them. It counts open namespaces,
// so tests can check that nothing leaks. Safe for concurrent use.
type FakeSandboxDir struct {
	mu       sync.Mutex
	files    map[string]*fakeSandboxFile
	watchErr error
	watching bool
	open     int
	reads    int
}

type fakeSandboxFile struct {
	born    time.Time
	id      netnsutil.ID
	mounted bool
	ifaces  []Interface
}

var _ SandboxDir = (*FakeSandboxDir)(nil)

// NewFakeSandboxDir returns an empty directory.
func NewFakeSandboxDir() *FakeSandboxDir {
	return &FakeSandboxDir{files: map[string]*fakeSandboxFile{}}
}

// Add puts a sandbox file bound to namespace id into the directory; born
// is when it appeared (zero: before watching began). The namespace has
// only lo.
func (d *FakeSandboxDir) Add(name string, born time.Time, id netnsutil.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files[name] = &fakeSandboxFile{born: born, id: id, mounted: true, ifaces: []Interface{{Name: "lo"}}}
}

// AddUnmounted puts a file that is not a namespace yet (Docker creates the
// file first and binds the namespace to it afterwards); Mount binds it.
func (d *FakeSandboxDir) AddUnmounted(name string, born time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files[name] = &fakeSandboxFile{born: born, ifaces: []Interface{{Name: "lo"}}}
}

// Mount binds file name to namespace id.
func (d *FakeSandboxDir) Mount(name string, id netnsutil.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f := d.files[name]; f != nil {
		f.id, f.mounted = id, true
	}
}

// AddInterface moves an interface into the namespace of file name.
func (d *FakeSandboxDir) AddInterface(name string, ifc Interface) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f := d.files[name]; f != nil {
		f.ifaces = append(f.ifaces, ifc)
	}
}

// Remove deletes a file.
func (d *FakeSandboxDir) Remove(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.files, name)
}

// FailWatch makes Watch fail with err.
func (d *FakeSandboxDir) FailWatch(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.watchErr = err
}

// OpenCount returns how many namespaces are open now.
func (d *FakeSandboxDir) OpenCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.open
}

// Reads returns how many interface lists were read.
func (d *FakeSandboxDir) Reads() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reads
}

// Watch implements SandboxDir.
func (d *FakeSandboxDir) Watch(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.watchErr != nil {
		return d.watchErr
	}
	d.watching = true
	return nil
}

// Born implements SandboxDir.
func (d *FakeSandboxDir) Born(after time.Time) []SandboxFile {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []SandboxFile
	for n, f := range d.files {
		if !f.born.IsZero() && f.born.After(after) {
			out = append(out, SandboxFile{Name: n, Born: f.born})
		}
	}
	slices.SortFunc(out, func(a, b SandboxFile) int { return a.Born.Compare(b.Born) })
	return out
}

// Open implements SandboxDir.
func (d *FakeSandboxDir) Open(name string) (SandboxNS, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.files[name]
	switch {
	case f == nil:
		return nil, fmt.Errorf("%s: %w", name, netnsutil.ErrNotFound)
	case !f.mounted:
		return nil, fmt.Errorf("%s: %w", name, netnsutil.ErrNotNetNS)
	}
	d.open++
	return &fakeSandboxNS{d: d, name: name, id: f.id}, nil
}

type fakeSandboxNS struct {
	d      *FakeSandboxDir
	name   string
	id     netnsutil.ID
	closed bool
}

func (n *fakeSandboxNS) ID() netnsutil.ID { return n.id }

// Fd is -1: only the fake Firewall uses it.
func (n *fakeSandboxNS) Fd() int { return -1 }

func (n *fakeSandboxNS) Close() error {
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	if n.closed {
		return fmt.Errorf("sandbox namespace %s closed twice", n.id)
	}
	n.closed = true
	n.d.open--
	return nil
}

// Interfaces implements SandboxNS: the interfaces now in the file's
// namespace (none once the file is gone: the namespace stays while open,
// but Docker has moved the interface out).
func (n *fakeSandboxNS) Interfaces() ([]Interface, error) {
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	n.d.reads++
	f := n.d.files[n.name]
	if f == nil {
		return nil, nil
	}
	return slices.Clone(f.ifaces), nil
}
