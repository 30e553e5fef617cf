package reconcile

import (
	"path/filepath"

	"github.com/dcfw/dcfw/netnsutil"
)

// Namespace is an open network namespace: its identity and a file
// descriptor that keeps it alive (and that nftables connections bind to)
// until Close. *netnsutil.NS implements it.
type Namespace interface {
	ID() netnsutil.ID
	Fd() int
	Close() error
}

// Namespaces finds the network namespaces of containers.
type Namespaces interface {
	// OpenPID opens the namespace of a container's process. A process that
	// is gone yields an error matching netnsutil.ErrNotFound.
	OpenPID(pid int) (Namespace, error)
	// OpenSandbox opens the namespace file Docker keeps for a container
	// (the SandboxKey of its inspect output).
	OpenSandbox(sandboxKey string) (Namespace, error)
	// HostID is the identity of the host's network namespace, which dcfw
	// never writes to.
	HostID() (netnsutil.ID, error)
}

// ProcNamespaces opens namespaces through procfs and Docker's sandbox
// directory. ProcDir is where the host's procfs is mounted (/proc, or a bind
// mount of it when dcfw runs in a container with pid: host); NetnsDir is
// where Docker's sandbox directory (/var/run/docker/netns on the host) is
// visible to dcfw.
type ProcNamespaces struct {
	ProcDir  string
	NetnsDir string
}

var _ Namespaces = ProcNamespaces{}

// OpenPID opens /proc/<pid>/ns/net.
func (p ProcNamespaces) OpenPID(pid int) (Namespace, error) {
	ns, err := netnsutil.OpenPID(p.ProcDir, pid)
	if err != nil {
		return nil, err
	}
	return ns, nil
}

// OpenSandbox opens the sandbox file under NetnsDir: the engine reports
// the host path, and only its base name is used, so the directory may be
// mounted anywhere.
func (p ProcNamespaces) OpenSandbox(sandboxKey string) (Namespace, error) {
	ns, err := netnsutil.OpenPath(filepath.Join(p.NetnsDir, filepath.Base(sandboxKey)))
	if err != nil {
		return nil, err
	}
	return ns, nil
}

// HostID is the namespace of PID 1 under ProcDir.
func (p ProcNamespaces) HostID() (netnsutil.ID, error) {
	return netnsutil.HostID(p.ProcDir)
}
