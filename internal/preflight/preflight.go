// Package preflight checks, before dcfw starts reconciling, that it can do
// its job: reach the Docker engine, see the host's processes, open other
// processes' network namespaces, enter them, and talk nftables. A dcfw
// that lacks any of these would otherwise start, log per-container errors
// (or, without the host's PID namespace, nothing at all) and protect
// nothing; with the checks it exits at once, naming what is missing and
// how to fix it.
//
// Every check probes the real operation (a setns, a netlink request, an
// open of /proc/<pid>/ns/net) rather than only reading the capability set:
// what the kernel allows is what counts, and security modules (AppArmor,
// SELinux, seccomp) can refuse what a capability would allow. The
// capability set is read only to tell "capability missing" from "present
// but refused anyway" in the message.
//
// The probes write nothing anywhere: the setns goes into dcfw's own
// network namespace, the nftables probe only lists tables in it.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/netnsutil"
)

// Config says what to check.
type Config struct {
	// ProcDir is where the host's procfs is (dcfw's --proc-dir).
	ProcDir string
	// NetnsDir is Docker's sandbox directory as dcfw sees it (--netns-dir).
	NetnsDir string
	// Mode is how dcfw will open namespaces (DetectMode for auto): it
	// decides what is checked.
	Mode Mode
	// Engine makes one real request to the Docker engine (listing the
	// running containers: what dcfw does first). Nil skips the check.
	Engine func(ctx context.Context) error
	// EngineHost names the engine in messages (unix:///var/run/docker.sock).
	EngineHost string
	// EngineWait is how long an engine that does not answer yet is waited
	// for (default 30s): an engine that restarts starts its restart-policy
	// containers, dcfw among them, before it serves its API. A socket that
	// does not exist or may not be opened fails at once.
	EngineWait time.Duration
	// Waiting, when set, is called once when the engine does not answer at
	// first and the check starts waiting for it.
	Waiting func(err error)
}

// Problem is a check that failed: what cannot work, what the kernel or the
// engine answered, why dcfw needs it and how to fix it.
type Problem struct {
	// Check names the check: "docker", "pid", "CAP_SYS_PTRACE",
	// "CAP_SYS_ADMIN", "CAP_NET_ADMIN".
	Check string
	// What is a one-line headline, e.g. "missing capability CAP_NET_ADMIN".
	What string
	// Err is the answer of the kernel or the engine.
	Err error
	// Why dcfw needs what failed.
	Why string
	// Fix says what to change.
	Fix string
}

func (p *Problem) Error() string {
	return fmt.Sprintf("%s: %v; %s. Fix: %s", p.What, p.Err, p.Why, p.Fix)
}

func (p *Problem) Unwrap() error { return p.Err }

// Capabilities dcfw needs, as the kernel numbers them.
const (
	capNetAdmin  = unix.CAP_NET_ADMIN
	capSysAdmin  = unix.CAP_SYS_ADMIN
	capSysPtrace = unix.CAP_SYS_PTRACE
)

// capNames are the names used in messages: the kernel's, as in
// capabilities(7); compose and docker run take them without "CAP_".
var capNames = map[int]string{
	capNetAdmin:  "CAP_NET_ADMIN",
	capSysAdmin:  "CAP_SYS_ADMIN",
	capSysPtrace: "CAP_SYS_PTRACE",
}

// probes are the operating system operations the checks make. A variable
// so that unit tests can replace them; the kernel tests use the real ones.
type probes struct {
	// effectiveCaps is the effective capability set (bit n: capability n).
	effectiveCaps func() (uint64, error)
	// hostPIDNamespace reports whether procDir shows the host's processes.
	hostPIDNamespace func(procDir string) error
	// openHostNetNS opens the network namespace of the host's init.
	openHostNetNS func(procDir string) error
	// setnsSelf enters dcfw's own network namespace (a no-op move).
	setnsSelf func() error
	// listTables asks nf_tables in dcfw's own namespace for its tables.
	listTables func() error
	// mountOf finds the mount that holds a path, in dcfw's mount namespace.
	mountOf func(path string) (netnsutil.Mount, error)
	// sameMountNS reports whether dcfw shares the mount namespace of
	// procDir's PID 1.
	sameMountNS func(procDir string) (bool, error)
}

var realProbes = probes{
	effectiveCaps:    effectiveCaps,
	hostPIDNamespace: hostPIDNamespace,
	openHostNetNS: func(procDir string) error {
		_, err := netnsutil.HostID(procDir)
		return err
	},
	setnsSelf:   setnsSelf,
	listTables:  listTables,
	mountOf:     netnsutil.MountOf,
	sameMountNS: netnsutil.SameMountNS,
}

// Run runs every check and returns the problems found (none: dcfw can do
// its job) and warnings about things that work, but not as well as they
// could.
func Run(ctx context.Context, cfg Config) (problems []*Problem, warnings []string) {
	return run(ctx, cfg, realProbes)
}

func run(ctx context.Context, cfg Config, p probes) (problems []*Problem, warnings []string) {
	if cfg.Engine != nil {
		if prob := checkEngine(ctx, cfg); prob != nil {
			problems = append(problems, prob)
		}
	}

	caps, capsErr := p.effectiveCaps()
	have := func(c int) (known, present bool) {
		return capsErr == nil, capsErr == nil && caps&(1<<uint(c)) != 0
	}

	if cfg.Mode == ModeSandbox {
		// No namespace is opened by a PID: neither the host's PID
		// namespace nor CAP_SYS_PTRACE is needed.
		sp, sw := sandboxChecks(cfg, p)
		problems = append(problems, sp...)
		warnings = append(warnings, sw...)
	} else if pidErr := p.hostPIDNamespace(cfg.ProcDir); pidErr != nil {
		problems = append(problems, &Problem{
			Check: "pid",
			What:  "dcfw does not see the host's processes",
			Err:   pidErr,
			Why: "dcfw opens a container's network namespace through its process (" + cfg.ProcDir +
				"/<pid>/ns/net, with the PID the engine reports), which only the host's PID namespace shows",
			Fix: "run dcfw in the host's PID namespace (compose: pid: host; docker run --pid host), " +
				"or mount the host's procfs and point --proc-dir at it, or use --namespaces=sandbox (Swarm: deploy/dcfw-stack.yml)",
		})
	} else if err := p.openHostNetNS(cfg.ProcDir); err != nil {
		// Only meaningful in the host's PID namespace: elsewhere PID 1 is
		// some container's init, openable or not.
		problems = append(problems, permissionProblem(capSysPtrace, have, err,
			"cannot open the network namespace of the host's init ("+cfg.ProcDir+"/1/ns/net)",
			"opening the network namespace of a process that runs as another user or holds capabilities dcfw lacks "+
				"needs CAP_SYS_PTRACE: the host's init (which dcfw identifies so as never to write there), "+
				"containers of non-root users and root containers with Docker's default capabilities"))
	}

	if err := p.setnsSelf(); err != nil {
		problems = append(problems, permissionProblem(capSysAdmin, have, err,
			"cannot enter a network namespace (setns)",
			"dcfw enters each container's network namespace (setns) to talk nftables there, which needs CAP_SYS_ADMIN"))
	}

	if err := p.listTables(); err != nil {
		problems = append(problems, permissionProblem(capNetAdmin, have, err,
			"cannot talk nftables (netlink)",
			"reading and writing nftables rules needs CAP_NET_ADMIN"))
	}

	if cfg.NetnsDir != "" && cfg.Mode == ModePID {
		if w := checkNetnsDir(cfg.NetnsDir); w != "" {
			warnings = append(warnings, w)
		} else if w := checkNetnsDirPropagation(cfg.NetnsDir, cfg.ProcDir, p); w != "" {
			warnings = append(warnings, w)
		}
	}
	return problems, warnings
}

// permissionProblem describes a failed privileged operation. A refusal
// (EPERM, EACCES) with the capability missing names the capability and how
// to add it; with the capability present, something else refuses (a
// security module, seccomp, a user namespace) and the fix says so.
func permissionProblem(capability int, have func(int) (bool, bool), err error, what, why string) *Problem {
	name := capNames[capability]
	short := strings.TrimPrefix(name, "CAP_")
	p := &Problem{Check: name, Err: err, Why: why}
	refused := errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, netnsutil.ErrPermission)
	known, present := have(capability)
	switch {
	case refused && known && !present:
		p.What = "missing capability " + name + ": " + what
		p.Fix = fmt.Sprintf("give dcfw the capability (compose: cap_add: [%s]; docker run --cap-add %s), "+
			"as deploy/docker-compose.yml does", short, short)
	case refused && known && present:
		p.What = what + " although dcfw has " + name
		p.Fix = "something besides capabilities refuses it: with AppArmor run dcfw unconfined " +
			"(compose: security_opt: [apparmor:unconfined]; docker run --security-opt apparmor=unconfined), " +
			"with SELinux disable its labelling for dcfw (label=disable); a custom seccomp profile must allow it; " +
			"dcfw must run in the host's user namespace (not rootless Docker, not userns-remap for dcfw)"
	case refused:
		p.What = what + " (" + name + " missing?)"
		p.Fix = fmt.Sprintf("give dcfw %s (compose: cap_add: [%s]; docker run --cap-add %s)", name, short, short)
	default:
		p.What = what
		p.Fix = "see the error; dcfw needs " + name + " for this, and a Linux kernel with network namespaces and nf_tables"
	}
	return p
}

// checkEngine asks the engine once, and again while it is not up yet (for
// at most EngineWait). A socket that is missing or may not be opened is a
// deployment error that waiting does not fix.
func checkEngine(ctx context.Context, cfg Config) *Problem {
	wait := cfg.EngineWait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	deadline := time.Now().Add(wait)
	delay := 250 * time.Millisecond
	waiting := false
	for {
		err := cfg.Engine(ctx)
		if err == nil {
			return nil
		}
		permanent := errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOENT) ||
			errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
		if permanent || ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			return engineProblem(cfg.EngineHost, err, wait, permanent)
		}
		if !waiting && cfg.Waiting != nil {
			cfg.Waiting(err)
		}
		waiting = true
		select {
		case <-ctx.Done():
			return engineProblem(cfg.EngineHost, ctx.Err(), wait, false)
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func engineProblem(host string, err error, waited time.Duration, permanent bool) *Problem {
	p := &Problem{
		Check: "docker",
		What:  "cannot reach the Docker engine at " + host,
		Err:   err,
		Why:   "dcfw reads the containers and their dcfw.* labels from the engine's API",
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOENT):
		p.Fix = "mount the engine's socket into dcfw's container (compose volumes: /var/run/docker.sock:/var/run/docker.sock:ro; " +
			"docker run -v /var/run/docker.sock:/var/run/docker.sock:ro), or set DOCKER_HOST to the engine's address"
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		p.Fix = "run dcfw as root (the image does; do not set user:), or as a member of the socket's group"
	default:
		if !permanent {
			p.What += fmt.Sprintf(" (waited %s)", waited)
		}
		p.Fix = "start the Docker engine, or set DOCKER_HOST to its address; " +
			"a socket proxy in between must allow reading containers, networks and events"
	}
	return p
}

// checkNetnsDir warns when Docker's sandbox directory is not visible: dcfw
// then finds namespaces through /proc only, which works, but only once a
// container's process runs.
func checkNetnsDir(dir string) string {
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Sprintf("Docker's sandbox directory %s is not visible (%v): namespaces are found through /proc only, "+
			"once a container's process runs; mount it read-only with rslave propagation "+
			"(compose volumes: /var/run/docker/netns:/var/run/docker/netns:ro,rslave) or set --netns-dir", dir, err)
	case !st.IsDir():
		return fmt.Sprintf("Docker's sandbox directory %s is not a directory; set --netns-dir", dir)
	}
	return ""
}

// checkNetnsDirPropagation warns when dcfw, in a mount namespace of its
// own (a container), sees Docker's sandbox directory through a mount that
// does not propagate: Docker binds every new sandbox namespace to a file
// there, and without rslave propagation dcfw sees the files but not the
// namespaces bound to them. Protection before the first packet would then
// fall back, container after container, to the PID path, with nothing but
// timing in each fallback's reason. On the host itself (PID 1's mount
// namespace) propagation does not matter; when that cannot be told, a
// private mount warns anyway.
func checkNetnsDirPropagation(dir, procDir string, p probes) string {
	point := privateNetnsMount(dir, procDir, p, true)
	if point == "" {
		return ""
	}
	return fmt.Sprintf("Docker's sandbox directory %s is on mount %s, whose propagation is private: dcfw does not see the namespaces "+
		"Docker creates after it started, so containers are protected only once their process runs, not before their first packet; "+
		"mount it with rslave propagation (compose volumes: /var/run/docker/netns:/var/run/docker/netns:ro,rslave)", dir, point)
}

// privateNetnsMount is the mount point through which dcfw sees dir when
// that mount does not propagate (new sandboxes stay invisible) and dcfw is
// not in the host's mount namespace, where propagation does not matter;
// "" otherwise. That dcfw is in the host's can be told only when procDir
// shows the host's processes (hostProcs).
func privateNetnsMount(dir, procDir string, p probes, hostProcs bool) string {
	m, err := p.mountOf(dir)
	if err != nil || m.Propagates {
		return ""
	}
	if same, err := p.sameMountNS(procDir); hostProcs && err == nil && same {
		return ""
	}
	return m.Point
}
