package reconcile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/sandbox"
)

// SandboxKeyNamespaces are Namespaces of the sandbox mode: the controller
// opens every container's namespace through its SandboxKey (never OpenPID,
// which needs ptrace access), and asks CheckProcess whether the
// container's process runs there, instead of comparing with the PID's.
type SandboxKeyNamespaces interface {
	Namespaces
	// CheckProcess says whether process pid of container id runs in ns
	// (opened by OpenSandbox): nil when it does or that cannot be told
	// (the host's processes are not visible), an error matching
	// netnsutil.ErrNotFound when the process is gone, errNotSandbox when
	// it runs elsewhere or belongs to another container.
	CheckProcess(pid int, id string, ns Namespace) error
}

// SandboxNamespaces opens namespaces through Docker's sandbox directory
// only, for a dcfw without the host's PID namespace and CAP_SYS_PTRACE
// (Swarm). The host's namespace is refused at every open: by name (the
// engine's "default" file), by the nsfs identity of that file, and, when
// the host's processes are visible under ProcDir (HostProcs), by the
// ProcNetID of the host's init, which needs no ptrace access.
type SandboxNamespaces struct {
	ProcDir  string
	NetnsDir string
	// HostProcs: ProcDir shows the host's processes (preflight's check).
	HostProcs bool

	// Learnt by HostID.
	hostNet netnsutil.ProcNetID
	hostID  netnsutil.ID

	// files is which sandbox file held each ProcNetID at OpenPID's last
	// scan: a hint, checked at every use (the numbers are reused).
	mu    sync.Mutex
	files map[netnsutil.ProcNetID]string
	// procNets are the ProcNetIDs OpenSandbox read, by file name and the
	// namespace it held then: every cycle opens every container's file, and
	// reading the number enters the namespace. A live namespace keeps its
	// number; a file that now holds another namespace is read again.
	procNets map[string]fileProcNet
}

type fileProcNet struct {
	id netnsutil.ID
	pn netnsutil.ProcNetID
}

// maxProcNets bounds procNets: names of sandboxes long gone are dropped
// with the rest when it is full.
const maxProcNets = 4096

var _ SandboxKeyNamespaces = (*SandboxNamespaces)(nil)

// sandboxNS is a namespace opened in sandbox mode with its ProcNetID (zero
// without the host's processes: nothing to compare it with).
type sandboxNS struct {
	*netnsutil.NS
	procNet netnsutil.ProcNetID
}

// HostID learns the host's namespace: the ProcNetID of the host's init,
// and the nsfs identity of the engine's "default" file, checked against it.
// Zero, without error, when the engine has not made that file: then
// nothing compares with the identity, and OpenSandbox refuses the host by
// ProcNetID and name. A "default" file that is not the host's is an error:
// the directory is not what it should be.
func (s *SandboxNamespaces) HostID() (netnsutil.ID, error) {
	if s.HostProcs {
		pn, err := netnsutil.ProcNetOfPID(s.ProcDir, 1)
		if err != nil {
			return netnsutil.ID{}, fmt.Errorf("the host's init: %w", err)
		}
		s.hostNet = pn
	}
	path := filepath.Join(s.NetnsDir, sandbox.HostFile)
	ns, err := netnsutil.OpenPath(path)
	if errors.Is(err, netnsutil.ErrNotFound) {
		return netnsutil.ID{}, nil
	}
	if err != nil {
		return netnsutil.ID{}, err
	}
	defer ns.Close()
	if s.HostProcs {
		pn, err := netnsutil.ProcNetOf(ns)
		if err != nil {
			return netnsutil.ID{}, err
		}
		if pn != s.hostNet {
			return netnsutil.ID{}, fmt.Errorf("%s holds %s, the host's init is in %s: not the engine's sandbox directory?", path, pn, s.hostNet)
		}
	}
	s.hostID = ns.ID()
	return s.hostID, nil
}

// OpenSandbox opens the sandbox file under NetnsDir by the base name of
// the engine's path, and refuses the host's namespace with an error
// matching netnsutil.ErrHostNamespace. With the host's processes visible
// it reads the namespace's ProcNetID (a thread enters it): that is the
// check, and what CheckProcess compares with.
func (s *SandboxNamespaces) OpenSandbox(sandboxKey string) (Namespace, error) {
	name := filepath.Base(sandboxKey)
	if name == sandbox.HostFile {
		return nil, fmt.Errorf("sandbox file %s: %w", name, netnsutil.ErrHostNamespace)
	}
	ns, err := netnsutil.OpenPath(filepath.Join(s.NetnsDir, name))
	if err != nil {
		return nil, err
	}
	if !s.hostID.IsZero() && ns.ID() == s.hostID {
		ns.Close()
		return nil, fmt.Errorf("sandbox file %s: %w", name, netnsutil.ErrHostNamespace)
	}
	if !s.HostProcs {
		return sandboxNS{NS: ns}, nil
	}
	s.mu.Lock()
	known, ok := s.procNets[name]
	s.mu.Unlock()
	if ok && known.id == ns.ID() {
		return sandboxNS{NS: ns, procNet: known.pn}, nil
	}
	pn, err := sandbox.NotHost(ns, name, s.hostNet) // zero only before HostID: counts as the host
	if err != nil {
		ns.Close()
		return nil, err
	}
	s.mu.Lock()
	if s.procNets == nil || len(s.procNets) >= maxProcNets {
		s.procNets = map[string]fileProcNet{}
	}
	s.procNets[name] = fileProcNet{id: ns.ID(), pn: pn}
	s.mu.Unlock()
	return sandboxNS{NS: ns, procNet: pn}, nil
}

// OpenPID finds the sandbox file whose namespace process pid runs in,
// by ProcNetID: there is no other way in without ptrace access. It is
// for what knows a PID only (the checks while the engine is down, `dcfw
// status`); one scan of the directory serves the next calls as a hint.
func (s *SandboxNamespaces) OpenPID(pid int) (Namespace, error) {
	if !s.HostProcs {
		return nil, fmt.Errorf("pid %d: %w (sandbox mode without the host's processes)", pid, netnsutil.ErrPermission)
	}
	want, err := netnsutil.ProcNetOfPID(s.ProcDir, pid)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	hint, ok := s.files[want]
	s.mu.Unlock()
	if ok {
		if ns, err := s.OpenSandbox(hint); err == nil {
			if ns.(sandboxNS).procNet == want {
				return ns, nil
			}
			ns.Close()
		}
	}
	entries, err := os.ReadDir(s.NetnsDir)
	if err != nil {
		return nil, err
	}
	files := make(map[netnsutil.ProcNetID]string, len(entries))
	var found Namespace
	for _, e := range entries {
		ns, err := s.OpenSandbox(e.Name())
		if err != nil {
			continue
		}
		pn := ns.(sandboxNS).procNet
		files[pn] = e.Name()
		if pn == want && found == nil {
			found = ns
			continue
		}
		ns.Close()
	}
	s.mu.Lock()
	s.files = files
	s.mu.Unlock()
	if found == nil {
		return nil, fmt.Errorf("pid %d (%s): no sandbox file holds its namespace: %w", pid, want, netnsutil.ErrNotFound)
	}
	return found, nil
}

// CheckProcess implements SandboxKeyNamespaces: the process's ProcNetID
// must be the namespace's, and its cgroup must name the container (a PID
// is reused once its process exits).
func (s *SandboxNamespaces) CheckProcess(pid int, id string, ns Namespace) error {
	sns, ok := ns.(sandboxNS)
	if !s.HostProcs || !ok || sns.procNet == 0 {
		return nil
	}
	pn, err := netnsutil.ProcNetOfPID(s.ProcDir, pid)
	if err != nil {
		return err
	}
	if pn != sns.procNet {
		return fmt.Errorf("%w: pid %d is in %s, the sandbox file %s holds %s", errNotSandbox, pid, pn, filepath.Base(sns.Path()), sns.procNet)
	}
	owner, err := netnsutil.ContainerOfPID(s.ProcDir, pid)
	if err != nil {
		return err
	}
	if owner != id {
		return fmt.Errorf("%w: pid %d belongs to container %q", errNotSandbox, pid, owner)
	}
	return nil
}
