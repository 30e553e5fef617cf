package preflight

import (
	"fmt"
	"os"
)

// sandboxChecks are the checks of ModeSandbox, where Docker's sandbox
// directory is the only way into containers' namespaces: without it, or
// without rslave propagation (dcfw would see a new container's file but
// never the namespace bound to it), no container started after dcfw could
// be protected at all, so both are problems, not warnings as in ModePID.
//
// The host's processes are optional here: dcfw reads them only to tell
// which container a new sandbox namespace belongs to before its process
// runs (their cgroup and /proc/<pid>/net, which need no CAP_SYS_PTRACE).
// Without them containers are still protected, but only once their
// process runs; a warning says so.
func sandboxChecks(cfg Config, p probes) (problems []*Problem, warnings []string) {
	hostErr := p.hostPIDNamespace(cfg.ProcDir)
	if prob := sandboxDirProblem(cfg, p, hostErr == nil); prob != nil {
		problems = append(problems, prob)
	}
	if err := hostErr; err != nil {
		warnings = append(warnings, fmt.Sprintf("sandbox mode without the host's processes (%v): containers are protected "+
			"once their process runs, not before their first packet; mount the host's procfs read-only and point --proc-dir at it "+
			"(stack volumes: /proc:/host/proc:ro, environment DCFW_PROC_DIR=/host/proc), as deploy/dcfw-stack.yml does", err))
	}
	return problems, warnings
}

// sandboxDirProblem checks that the sandbox directory is there and
// propagates new namespaces into dcfw's mount namespace. Propagation does
// not matter on the host itself, in its init's mount namespace; that is
// told only when procDir shows the host's processes (hostProcs): in a
// task's own PID namespace, PID 1 is dcfw, whose mount namespace is
// always its own.
func sandboxDirProblem(cfg Config, p probes, hostProcs bool) *Problem {
	const why = "in sandbox mode dcfw opens every container's network namespace through the file the engine binds it to " +
		"in its sandbox directory (the container's SandboxKey)"
	const mount = "mount it read-only with rslave propagation (stack or compose volumes: " +
		"/var/run/docker/netns:/var/run/docker/netns:ro,rslave; docker service create --mount " +
		"type=bind,src=/var/run/docker/netns,dst=/var/run/docker/netns,readonly,bind-propagation=rslave)"
	if cfg.NetnsDir == "" {
		return &Problem{Check: "netns-dir", What: "sandbox mode without Docker's sandbox directory",
			Err: fmt.Errorf("--netns-dir is empty"), Why: why, Fix: "set --netns-dir and " + mount}
	}
	st, err := os.Stat(cfg.NetnsDir)
	if err == nil && !st.IsDir() {
		err = fmt.Errorf("%s is not a directory", cfg.NetnsDir)
	}
	if err != nil {
		return &Problem{Check: "netns-dir", What: "Docker's sandbox directory " + cfg.NetnsDir + " is not visible",
			Err: err, Why: why, Fix: mount + ", or set --netns-dir to where it is mounted"}
	}
	point := privateNetnsMount(cfg.NetnsDir, cfg.ProcDir, p, hostProcs)
	if point == "" {
		return nil
	}
	return &Problem{Check: "netns-dir",
		What: "Docker's sandbox directory " + cfg.NetnsDir + " is on mount " + point + ", whose propagation is private",
		Err:  fmt.Errorf("namespaces the engine binds after dcfw started stay invisible to dcfw"),
		Why:  why + ", and containers that start after dcfw would never be protected",
		Fix:  mount}
}
