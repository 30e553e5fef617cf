package netnsutil

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ProcTable answers "which containers have a process in this namespace?"
// from procfs: the namespace of each process (/proc/PID/ns/net) and the
// container ID in its cgroup path (/proc/PID/cgroup). It lets a starting
// container's namespace be told by its owner, unambiguously, as soon as
// the runtime's init process is inside, before the workload runs: the
// runtime moves that process into the container's cgroup before it joins
// or creates the namespace, so a process seen in a namespace already names
// its container.
//
// It caches each process's namespace: only processes younger than
// Settle are looked at again (a new process may still move into a
// namespace), so a scan costs a directory listing and a stat per new
// process. Not safe for concurrent use.
type ProcTable struct {
	// ProcDir is the procfs mount point (the host's, with `pid: host`).
	ProcDir string
	// Settle is how long a process is looked at again (default 3s).
	Settle time.Duration
	// ByProcNet identifies each process's namespace by its ProcNetID
	// (/proc/PID/net) instead of /proc/PID/ns/net, which needs ptrace
	// access: without CAP_SYS_PTRACE only this works. Ask with
	// ContainersInProcNet then.
	ByProcNet bool

	procs map[int]procEntry
}

type procEntry struct {
	ns   ID        // zero: not readable (yet), or ByProcNet
	pn   ProcNetID // zero: not readable (yet), or not ByProcNet
	seen time.Time
}

// NewProcTable returns a table over procDir.
func NewProcTable(procDir string) *ProcTable {
	return &ProcTable{ProcDir: procDir}
}

// Refresh reads the processes that appeared since the last Refresh, and
// the young ones again.
func (t *ProcTable) Refresh() error {
	if t.procs == nil {
		t.procs = map[int]procEntry{}
	}
	settle := t.Settle
	if settle <= 0 {
		settle = 3 * time.Second
	}
	d, err := os.Open(t.ProcDir)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	now := time.Now()
	present := make(map[int]bool, len(names))
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		present[pid] = true
		e, ok := t.procs[pid]
		if ok && now.Sub(e.seen) > settle {
			continue
		}
		if !ok {
			e.seen = now
		}
		if t.ByProcNet {
			e.pn, _ = ProcNetOfPID(t.ProcDir, pid) // zero when unreadable
		} else {
			e.ns = t.nsOf(pid)
		}
		t.procs[pid] = e
	}
	for pid := range t.procs {
		if !present[pid] {
			delete(t.procs, pid)
		}
	}
	return nil
}

func (t *ProcTable) nsOf(pid int) ID {
	var st unix.Stat_t
	if err := unix.Stat(PIDPath(t.ProcDir, pid), &st); err != nil {
		return ID{}
	}
	return ID{Dev: st.Dev, Ino: st.Ino}
}

// ContainersIn returns the container IDs found in the cgroup paths of the
// processes that the last Refresh saw in namespace ns, without repeats.
func (t *ProcTable) ContainersIn(ns ID) []string {
	if ns.IsZero() {
		return nil
	}
	return t.containers(func(e procEntry) bool { return e.ns == ns })
}

// ContainersInProcNet is ContainersIn for a table ByProcNet, with the
// namespace's ProcNetID (ProcNetOf).
func (t *ProcTable) ContainersInProcNet(pn ProcNetID) []string {
	if pn == 0 {
		return nil
	}
	return t.containers(func(e procEntry) bool { return e.pn == pn })
}

// containers reads the container IDs in the cgroups of the processes in.
func (t *ProcTable) containers(in func(procEntry) bool) []string {
	var out []string
	for pid, e := range t.procs {
		if !in(e) {
			continue
		}
		cg, err := os.ReadFile(filepath.Join(t.ProcDir, strconv.Itoa(pid), "cgroup"))
		if err != nil {
			continue // gone meanwhile
		}
		if id := ContainerIDFromCgroup(cg); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// ContainerOfPID is the container ID in the cgroup of process pid under
// procDir ("" for a process of no container). Reading a process's cgroup
// needs no ptrace access. A process that is gone yields an error matching
// ErrNotFound.
func ContainerOfPID(procDir string, pid int) (string, error) {
	path := filepath.Join(procDir, strconv.Itoa(pid), "cgroup")
	cg, err := os.ReadFile(path)
	if err != nil {
		return "", classify(path, err)
	}
	return ContainerIDFromCgroup(cg), nil
}

// ContainerIDFromCgroup finds a container ID in the contents of a
// /proc/PID/cgroup file: the last path element of the first line that is
// 64 lowercase hex digits, alone or as Docker's systemd unit name
// (docker-<id>.scope). Both cgroup drivers and cgroup v1 and v2 put the ID
// there; a cgroup namespace shortens the path but keeps its last element.
// It returns "" when no line has one.
func ContainerIDFromCgroup(content []byte) string {
	for line := range bytes.SplitSeq(content, []byte{'\n'}) {
		// hierarchy-ID:controllers:path
		i := bytes.LastIndexByte(line, ':')
		if i < 0 {
			continue
		}
		path := line[i+1:]
		last := path[bytes.LastIndexByte(path, '/')+1:]
		last = bytes.TrimPrefix(last, []byte("docker-"))
		last = bytes.TrimSuffix(last, []byte(".scope"))
		if isContainerID(last) {
			return string(last)
		}
	}
	return ""
}

func isContainerID(b []byte) bool {
	if len(b) != 64 {
		return false
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
