package sandbox

import (
	"fmt"
	"sync"

	"github.com/dcfw/dcfw/netnsutil"
)

// ProcNetDir is the sandbox directory for a dcfw without ptrace access
// (the sandbox mode): the owners of a namespace are found by its ProcNetID
// (/proc/<pid>/net, readable by anyone) instead of /proc/<pid>/ns/net.
// Open reads each candidate's ProcNetID once (a thread enters it) and
// refuses the host's namespace by that number and by the engine's name
// for it, since the finder's own check compares nsfs identities, which
// dcfw may not know for the host here.
type ProcNetDir struct {
	*WatchedDir
	// HostNet is the host's namespace, as the host's init shows it.
	HostNet netnsutil.ProcNetID

	mu      sync.Mutex // Open runs on the finder's goroutine and the loop's (Removed)
	procNet map[netnsutil.ID]netnsutil.ProcNetID
}

var _ Dir = (*ProcNetDir)(nil)

// HostFile is the engine's sandbox file of the host's namespace (the
// SandboxKey of host-network containers).
const HostFile = "default"

// NotHost reads the ProcNetID of ns, the sandbox file name (a thread
// enters it), and refuses the host's namespace, hostNet, with an error
// matching netnsutil.ErrHostNamespace; a zero hostNet (not known yet)
// counts as the host.
func NotHost(ns *netnsutil.NS, name string, hostNet netnsutil.ProcNetID) (netnsutil.ProcNetID, error) {
	pn, err := netnsutil.ProcNetOf(ns)
	switch {
	case err != nil:
		return 0, fmt.Errorf("sandbox file %s: cannot tell it from the host's namespace: %w", name, err)
	case hostNet == 0 || pn == hostNet:
		return 0, fmt.Errorf("sandbox file %s (%s): %w", name, pn, netnsutil.ErrHostNamespace)
	}
	return pn, nil
}

// NewProcNetDir returns the sandbox directory at dir whose owners are
// found in procDir, which must show the host's processes: its PID 1 is
// the host's init, whose namespace is never a candidate.
func NewProcNetDir(dir, procDir string) (*ProcNetDir, error) {
	host, err := netnsutil.ProcNetOfPID(procDir, 1)
	if err != nil {
		return nil, fmt.Errorf("the host's init: %w", err)
	}
	w := NewWatchedDir(dir, procDir)
	w.Procs.ByProcNet = true
	return &ProcNetDir{WatchedDir: w, HostNet: host, procNet: map[netnsutil.ID]netnsutil.ProcNetID{}}, nil
}

// Open implements Dir. The host's namespace is an error matching
// netnsutil.ErrHostNamespace.
func (d *ProcNetDir) Open(name string) (Namespace, error) {
	if name == HostFile {
		return nil, fmt.Errorf("sandbox file %s: %w", name, netnsutil.ErrHostNamespace)
	}
	ns, err := d.WatchedDir.Open(name)
	if err != nil {
		return nil, err
	}
	n, ok := ns.(*netnsutil.NS)
	if !ok {
		ns.Close()
		return nil, fmt.Errorf("sandbox file %s: %T is not a namespace file", name, ns)
	}
	pn, err := NotHost(n, name, d.HostNet)
	if err != nil {
		ns.Close()
		return nil, err
	}
	d.mu.Lock()
	d.procNet[ns.ID()] = pn
	d.mu.Unlock()
	return ns, nil
}

// Owners implements Dir, for namespaces Open returned. What it knows of
// others is forgotten: the finder asks about every namespace it holds.
func (d *ProcNetDir) Owners(ns []netnsutil.ID) (map[netnsutil.ID][]string, error) {
	if err := d.Procs.Refresh(); err != nil {
		return nil, fmt.Errorf("processes: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	asked := make(map[netnsutil.ID]netnsutil.ProcNetID, len(ns))
	out := make(map[netnsutil.ID][]string, len(ns))
	for _, id := range ns {
		pn, ok := d.procNet[id]
		if !ok {
			continue
		}
		asked[id] = pn
		if ids := d.Procs.ContainersInProcNet(pn); len(ids) > 0 {
			out[id] = ids
		}
	}
	d.procNet = asked
	return out, nil
}
