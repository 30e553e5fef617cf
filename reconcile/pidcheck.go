package reconcile

import (
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/netnsutil"
)

// errNotSandbox: the namespace of a container's process (by its PID) is
// not the one the engine's sandbox file for the container holds.
var errNotSandbox = errors.New("the process is not in the container's sandbox namespace")

// checkSandbox makes sure that the namespace opened through a container's
// PID is the container's own, when the engine names its sandbox file: a
// PID is reused once its process exits, and the inspect result (cached
// until an event about the container) may be older than that. Another
// identity than the sandbox file's is errNotSandbox; so is a sandbox file
// that is gone, while the PID comes from the cache (the container stopped
// or restarted).
//
// When the file cannot be looked at (--netns-dir not mounted, or mounted
// without propagation, or not the engine's directory) nothing can be
// checked, and the namespace is taken as before: the inspect said the
// container runs as that PID. A file missing under a fresh inspect means
// the directory is not the engine's; the check is then dropped for this
// inspect result, so that a steady cycle stays without engine calls.
func (c *Controller) checkSandbox(ctr engine.Container, info engine.ContainerInfo, cached bool, ns Namespace) error {
	if info.SandboxKey == "" {
		return nil // container:X, or the engine did not say
	}
	sns, err := c.cfg.Namespaces.OpenSandbox(info.SandboxKey)
	switch {
	case err == nil:
		defer sns.Close()
		if sns.ID() != ns.ID() {
			return fmt.Errorf("%w: pid %d is in %s, the sandbox file %s holds %s (the PID was reused?)",
				errNotSandbox, info.PID, ns.ID(), safeText(info.SandboxKey), sns.ID())
		}
		return nil
	case errors.Is(err, netnsutil.ErrNotFound) && cached:
		return fmt.Errorf("%w: the sandbox file %s is gone", errNotSandbox, safeText(info.SandboxKey))
	case errors.Is(err, netnsutil.ErrNotFound):
		info.SandboxKey = ""
		c.cache[ctr.ID] = info
	}
	c.log.Debug("cannot check the process's namespace against the sandbox file",
		zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)), zap.Error(err))
	return nil
}
