package main

import (
	"go.uber.org/zap"

	"github.com/dcfw/dcfw/internal/preflight"
	"github.com/dcfw/dcfw/reconcile"
	"github.com/dcfw/dcfw/sandbox"
)

// namespacesFor returns how the controller opens namespaces in mode, and
// the finder of starting containers' namespaces (nil: off). In sandbox
// mode the finder needs the host's processes to tell a new namespace's
// owner; without them it is off, and the reason is logged.
func namespacesFor(log *zap.Logger, mode preflight.Mode, o options) (reconcile.Namespaces, reconcile.SandboxFinder) {
	if mode != preflight.ModeSandbox {
		return reconcile.ProcNamespaces{ProcDir: o.procDir, NetnsDir: o.netnsDir},
			sandbox.NewFinder(sandbox.NewWatchedDir(o.netnsDir, o.procDir), sandbox.DefaultPoll)
	}
	hostErr := preflight.HostProcesses(o.procDir)
	ns := &reconcile.SandboxNamespaces{ProcDir: o.procDir, NetnsDir: o.netnsDir, HostProcs: hostErr == nil}
	if hostErr != nil {
		log.Info("sandbox path off: the host's processes are not visible, so a new namespace's container cannot be told; containers are protected once their process runs",
			zap.String("proc_dir", o.procDir), zap.NamedError("why", hostErr))
		return ns, nil
	}
	dir, err := sandbox.NewProcNetDir(o.netnsDir, o.procDir)
	if err != nil {
		log.Info("sandbox path off: containers are protected once their process runs", zap.String("proc_dir", o.procDir), zap.Error(err))
		return ns, nil
	}
	return ns, sandbox.NewFinder(dir, sandbox.DefaultPoll)
}
