package reconcile

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/dcfw/dcfw/names"
)

// NameResolver looks up the names of a namespace's rules the way its
// container would: inside the namespace, with the container's resolv.conf.
// NSResolver is the real one; the controller's tests use a fake.
type NameResolver interface {
	// Resolve returns one result per name of q, in order. It must not
	// keep q.NS beyond the call, and must end when ctx does.
	Resolve(ctx context.Context, q NameQuery) []names.Result
}

// NameQuery is what one namespace's names are resolved with.
type NameQuery struct {
	NS Namespace
	// PID is the container's process (0 on the sandbox path: none yet);
	// ResolvConfPath the engine's path of its resolv.conf (a host path).
	PID            int
	ResolvConfPath string
	Names          []string
}

// NSResolver is the NameResolver on package names: the container's
// /etc/resolv.conf read through its process's root under ProcDir (dcfw runs
// with pid: host, so this works from dcfw's own container too), or the
// engine's copy when that cannot be read, and queries sent from sockets
// created inside the namespace.
type NSResolver struct {
	// ProcDir is where the host's procfs is mounted (default /proc).
	ProcDir string
}

var _ NameResolver = NSResolver{}

// Resolve implements NameResolver.
func (r NSResolver) Resolve(ctx context.Context, q NameQuery) []names.Result {
	conf, err := r.config(q)
	if err != nil {
		out := make([]names.Result, len(q.Names))
		for i, n := range q.Names {
			out[i] = names.Result{Name: n, Err: &names.LookupError{Name: n, Err: names.ErrNoNameserver, Cause: err}}
		}
		return out
	}
	res := names.Resolver{Dial: names.DialIn(q.NS.Fd()), Config: conf}
	return res.LookupAll(ctx, q.Names)
}

// config reads the container's resolv.conf: its own first (what its
// processes use, also after they changed it), the engine's copy second.
func (r NSResolver) config(q NameQuery) (names.Config, error) {
	procDir := r.ProcDir
	if procDir == "" {
		procDir = "/proc"
	}
	var paths []string
	if q.PID > 0 {
		paths = append(paths, filepath.Join(procDir, strconv.Itoa(q.PID), "root", "etc", "resolv.conf"))
	}
	if q.ResolvConfPath != "" {
		paths = append(paths, q.ResolvConfPath)
	}
	var errs []error
	for _, p := range paths {
		b, err := names.ReadResolvConf(p)
		if err == nil {
			var conf names.Config
			if conf, err = names.ParseResolvConf(b); err == nil {
				return conf, nil
			}
		}
		errs = append(errs, fmt.Errorf("%s: %w", p, err))
	}
	if len(errs) == 0 {
		return names.Config{}, errors.New("no resolv.conf known (no process yet, and the engine named none)")
	}
	return names.Config{}, errors.Join(errs...)
}
