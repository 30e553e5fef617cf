// Package sandboxtest is an in-memory sandbox directory for tests of the
// finder and of its users: the test adds sandbox files (with the time each
// appeared and the identity of its namespace) and lets processes of
// containers enter them.
package sandboxtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/sandbox"
)

// Dir is an in-memory sandbox.Dir. It counts open namespaces, so tests
// can check that nothing leaks. Safe for concurrent use.
type Dir struct {
	mu       sync.Mutex
	files    map[string]*file
	watchErr error
	watching bool
	open     int
	reads    int
}

type file struct {
	born    time.Time
	id      netnsutil.ID
	mounted bool
	owners  []string // containers with a process inside
}

var _ sandbox.Dir = (*Dir)(nil)

// New returns an empty directory.
func New() *Dir {
	return &Dir{files: map[string]*file{}}
}

// Add puts a sandbox file bound to namespace id into the directory; born
// is when it appeared (zero: before watching began). No process is
// inside yet.
func (d *Dir) Add(name string, born time.Time, id netnsutil.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files[name] = &file{born: born, id: id, mounted: true}
}

// AddUnmounted puts a file that is not a namespace yet (Docker creates the
// file first and binds the namespace to it afterwards); Mount binds it.
func (d *Dir) AddUnmounted(name string, born time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files[name] = &file{born: born}
}

// Mount binds file name to namespace id.
func (d *Dir) Mount(name string, id netnsutil.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f := d.files[name]; f != nil {
		f.id, f.mounted = id, true
	}
}

// Enter puts a process of container id into the namespace of file name
// (the runtime's init process entering it).
func (d *Dir) Enter(name, id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f := d.files[name]; f != nil {
		f.owners = append(f.owners, id)
	}
}

// Remove deletes a file.
func (d *Dir) Remove(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.files, name)
}

// FailWatch makes Watch fail with err.
func (d *Dir) FailWatch(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.watchErr = err
}

// OpenCount returns how many namespaces are open now.
func (d *Dir) OpenCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.open
}

// Reads returns how many namespaces' owners were looked up.
func (d *Dir) Reads() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reads
}

// Watch implements sandbox.Dir.
func (d *Dir) Watch(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.watchErr != nil {
		return d.watchErr
	}
	d.watching = true
	return nil
}

// Born implements sandbox.Dir.
func (d *Dir) Born(after time.Time) []sandbox.File {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []sandbox.File
	for n, f := range d.files {
		if !f.born.IsZero() && f.born.After(after) {
			out = append(out, sandbox.File{Name: n, Born: f.born})
		}
	}
	slices.SortFunc(out, func(a, b sandbox.File) int { return a.Born.Compare(b.Born) })
	return out
}

// Open implements sandbox.Dir.
func (d *Dir) Open(name string) (sandbox.Namespace, error) {
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
	return &namespace{d: d, name: name, id: f.id}, nil
}

type namespace struct {
	d      *Dir
	name   string
	id     netnsutil.ID
	closed bool
}

func (n *namespace) ID() netnsutil.ID { return n.id }

// Fd is -1: there is no file behind it.
func (n *namespace) Fd() int { return -1 }

func (n *namespace) Close() error {
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	if n.closed {
		return fmt.Errorf("sandbox namespace %s closed twice", n.id)
	}
	n.closed = true
	n.d.open--
	return nil
}

// Owners implements sandbox.Dir: the containers that entered the files
// bound to each namespace (none once the file is gone).
func (d *Dir) Owners(ns []netnsutil.ID) (map[netnsutil.ID][]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[netnsutil.ID][]string{}
	for _, id := range ns {
		d.reads++
		for _, f := range d.files {
			if f.mounted && f.id == id && len(f.owners) > 0 {
				out[id] = append(out[id], f.owners...)
			}
		}
	}
	return out, nil
}
