package reconcile

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/netnsutil"
)

// pathSandboxKey is the "protection applied" line's path in sandbox mode:
// the running container's namespace opened through its SandboxKey.
const pathSandboxKey = "sandbox-key"

// runningPath is the path value of protection through a running
// container: its PID, or in sandbox mode its SandboxKey.
func (c *Controller) runningPath() string {
	if _, ok := c.cfg.Namespaces.(SandboxKeyNamespaces); ok {
		return pathSandboxKey
	}
	return pathPID
}

// maxJoins bounds the container:X chain followed to a sandbox file: one
// step is the usual case, and a chain must end even if the engine's
// answers change (or loop) between inspects.
const maxJoins = 3

// openBySandboxKey is openNamespace in sandbox mode: the namespace is the
// one of the file the engine names (the SandboxKey, or the joined
// container's for network_mode container:X, which reports none), checked
// against the container's process where the host's processes are visible.
// retry: the inspect result came from the cache and looks stale; ask the
// engine again.
func (c *Controller) openBySandboxKey(ctx context.Context, ctr engine.Container, info engine.ContainerInfo, cached bool,
	sk SandboxKeyNamespaces) (ns Namespace, retry bool, err error) {
	fields := []zap.Field{zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)), zap.Int("pid", info.PID)}
	key, err := c.sandboxKeyOf(ctx, info)
	switch {
	case errors.Is(err, errHostNamespace), errors.Is(err, errGone):
		return nil, false, err
	case err != nil:
		c.logError("open:"+ctr.ID, "cannot find the container's sandbox file; it is not protected", err, fields...)
		return nil, false, err
	}
	fields = append(fields, zap.String("sandbox", safeText(key)))
	ns, err = sk.OpenSandbox(key)
	switch {
	case errors.Is(err, netnsutil.ErrHostNamespace):
		return nil, false, errHostNamespace
	case errors.Is(err, netnsutil.ErrNotFound) && cached:
		c.cache.forget(ctr.ID)
		return nil, true, nil
	case errors.Is(err, netnsutil.ErrNotNetNS):
		c.logError("open:"+ctr.ID, "the container's sandbox file holds no namespace for dcfw; it is not protected", err,
			append(fields, zap.String("hint", "mount Docker's sandbox directory with rslave propagation, as deploy/dcfw-stack.yml does"))...)
		return nil, false, err
	case err != nil:
		c.logError("open:"+ctr.ID, "cannot open the container's sandbox file; it is not protected", err, fields...)
		return nil, false, err
	}
	switch verr := sk.CheckProcess(info.PID, ctr.ID, ns); {
	case verr == nil:
	case cached:
		// The container restarted or stopped since the inspect: ask again.
		ns.Close()
		c.cache.forget(ctr.ID)
		return nil, true, nil
	case errors.Is(verr, netnsutil.ErrNotFound):
		ns.Close()
		c.cache.forget(ctr.ID)
		c.log.Debug("container exited before its namespace could be checked", append(fields, zap.Error(verr))...)
		return nil, false, errGone
	default:
		ns.Close()
		c.cache.forget(ctr.ID)
		c.logError("sandbox:"+ctr.ID, "the container's process does not run in its sandbox file's namespace; nothing written, tried again next cycle", verr, fields...)
		return nil, false, verr
	}
	c.errs.clear("open:" + ctr.ID)
	c.errs.clear("sandbox:" + ctr.ID)
	return ns, false, nil
}

// errNoSandboxKey: the engine names no sandbox file for a running
// container, nor does the container it joins.
var errNoSandboxKey = errors.New("the engine names no sandbox file for the container")

// sandboxKeyOf is the sandbox file of a running container: its own
// SandboxKey, or for network_mode container:X the one of X (the engine
// reports none for a container that joins another's namespace).
func (c *Controller) sandboxKeyOf(ctx context.Context, info engine.ContainerInfo) (string, error) {
	for range maxJoins {
		switch {
		case info.NetworkMode.IsHost():
			return "", errHostNamespace
		case info.SandboxKey != "":
			return info.SandboxKey, nil
		}
		x := info.NetworkMode.JoinedContainer()
		if x == "" {
			return "", fmt.Errorf("%w (network mode %q)", errNoSandboxKey, engine.SafeName(string(info.NetworkMode)))
		}
		xinfo, _, err := c.inspect(ctx, x)
		switch {
		case errors.Is(err, engine.ErrContainerGone):
			return "", errGone
		case err != nil:
			return "", fmt.Errorf("inspect the joined container %s: %w", engine.ShortID(x), err)
		case !xinfo.Running:
			return "", errGone
		}
		info = xinfo
	}
	return "", fmt.Errorf("%w: more than %d joined containers in a row", errNoSandboxKey, maxJoins)
}
