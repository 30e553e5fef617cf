package preflight

import (
	"fmt"
)

// Mode is how dcfw opens the network namespaces of containers.
type Mode int

const (
	// ModePID opens /proc/<pid>/ns/net of a container's process, which
	// needs the host's PID namespace (pid: host, or the host's procfs
	// mounted at --proc-dir) and CAP_SYS_PTRACE. The zero value: what
	// dcfw always did.
	ModePID Mode = iota
	// ModeSandbox opens every namespace through the engine's sandbox file
	// (the container's SandboxKey), for a dcfw that cannot have the host's
	// PID namespace: Swarm does not support pid: host. It needs no
	// CAP_SYS_PTRACE, but the sandbox directory, with rslave propagation.
	ModeSandbox
)

func (m Mode) String() string {
	if m == ModeSandbox {
		return "sandbox"
	}
	return "pid"
}

// ModeAuto is the --namespaces value that lets DetectMode choose.
const ModeAuto = "auto"

// ParseMode reads the --namespaces flag: auto, pid or sandbox.
func ParseMode(s string) (m Mode, auto bool, err error) {
	switch s {
	case ModeAuto:
		return ModePID, true, nil
	case "pid":
		return ModePID, false, nil
	case "sandbox":
		return ModeSandbox, false, nil
	}
	return ModePID, false, fmt.Errorf("invalid --namespaces %q: want auto, pid or sandbox", s)
}

// DetectMode chooses the mode for --namespaces=auto: ModePID when procDir
// shows the host's PID namespace, ModeSandbox otherwise, with the reason
// (what procDir showed instead). Only the PID namespace decides, not
// CAP_SYS_PTRACE: a dcfw with pid: host but without the capability is a
// misconfigured compose deployment, which the checks name, rather than a
// deployment that meant the sandbox mode.
func DetectMode(procDir string) (Mode, error) {
	return detectMode(procDir, realProbes)
}

func detectMode(procDir string, p probes) (Mode, error) {
	if err := p.hostPIDNamespace(procDir); err != nil {
		return ModeSandbox, err
	}
	return ModePID, nil
}

// HostProcesses reports whether procDir shows the host's processes (nil)
// or what it shows instead.
func HostProcesses(procDir string) error {
	return realProbes.hostPIDNamespace(procDir)
}
