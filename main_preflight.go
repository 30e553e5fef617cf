package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine/moby"
	"github.com/dcfw/dcfw/internal/preflight"
	"github.com/dcfw/dcfw/nft"
	"github.com/dcfw/dcfw/reconcile"
)

// engineProbeTimeout bounds each attempt of the engine check at start.
const engineProbeTimeout = 10 * time.Second

// runPreflight checks that dcfw can do its job before it starts (see
// internal/preflight) and logs every problem with its fix. It returns the
// mode namespaces are opened in, and false when dcfw must exit: a dcfw
// that runs but cannot protect anything is worse than one that does not
// start, because it looks like protection.
//
// ctx is dcfw's: SIGTERM while waiting for the engine ends the wait.
func runPreflight(ctx context.Context, log *zap.Logger, o options, docker *moby.Client) (preflight.Mode, bool) {
	mode := resolveMode(log, o)
	problems, warnings := preflight.Run(ctx, preflight.Config{
		ProcDir:  o.procDir,
		NetnsDir: o.netnsDir,
		Mode:     mode,
		Engine: func(ctx context.Context) error {
			// An engine that accepts the connection but does not answer
			// must not hold dcfw up for ever: each attempt has a deadline,
			// and the check waits for the engine as for one that is down.
			ctx, cancel := context.WithTimeout(ctx, engineProbeTimeout)
			defer cancel()
			_, err := docker.ListRunning(ctx)
			if err != nil && errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("no answer within %s: %w", engineProbeTimeout, err)
			}
			return err
		},
		EngineHost: docker.Host(),
		Waiting: func(err error) {
			log.Warn("the Docker engine does not answer yet; waiting for it", zap.String("docker_host", docker.Host()), zap.Error(err))
		},
	})
	for _, w := range warnings {
		log.Warn(w)
	}
	for _, p := range problems {
		log.Error(p.What,
			zap.String("check", p.Check),
			zap.String("error", p.Err.Error()),
			zap.String("why", p.Why),
			zap.String("fix", p.Fix))
	}
	if len(problems) > 0 {
		deployment := "deploy/docker-compose.yml"
		if mode == preflight.ModeSandbox {
			deployment = "deploy/dcfw-stack.yml"
		}
		log.Error("dcfw cannot protect containers like this and exits; fix the problems above (see README.md and "+deployment+")",
			zap.Int("problems", len(problems)), zap.Stringer("namespaces", mode))
		return mode, false
	}
	log.Debug("preflight checks passed")
	return mode, true
}

// resolveMode is the mode --namespaces asks for, or with auto the one
// DetectMode finds; the reason for sandbox is logged, since a compose
// deployment that lost pid: host lands there too.
func resolveMode(log *zap.Logger, o options) preflight.Mode {
	if !o.namespacesAuto {
		return o.namespaces
	}
	mode, why := preflight.DetectMode(o.procDir)
	if mode == preflight.ModeSandbox {
		log.Info("the host's PID namespace is not visible: namespaces are opened through Docker's sandbox files (sandbox mode)",
			zap.String("proc_dir", o.procDir), zap.NamedError("why", why))
	}
	return mode
}

// explainedFirewall is a Firewall whose errors name the capability a
// refusal points to (preflight.ExplainError).
type explainedFirewall struct{ next reconcile.Firewall }

func (e explainedFirewall) Apply(ns reconcile.Namespace, desired *nft.Table, dryRun bool, known nft.Generation) (nft.Result, error) {
	res, err := e.next.Apply(ns, desired, dryRun, known)
	return res, explain(res, err)
}

// explain names the likely cause of a failed write.
func explain(res nft.Result, err error) error {
	if err != nil && ownedTable(res.Differences) {
		// Not dcfw's missing capability: the kernel refuses everyone but
		// the table's owner.
		return fmt.Errorf("%w (the table has flags owner: a process in the namespace made it, which takes CAP_NET_ADMIN there, and no one else can change it while that process runs)", err)
	}
	return preflight.ExplainError(err)
}

// ownedTable reports whether nft found the table with the owner flag
// (its difference "table flags owner, want none").
func ownedTable(differences []string) bool {
	for _, d := range differences {
		if flags, ok := strings.CutPrefix(d, "table flags "); ok && slices.Contains(strings.Split(strings.TrimSuffix(flags, ", want none"), ","), "owner") {
			return true
		}
	}
	return false
}

func (e explainedFirewall) Remove(ns reconcile.Namespace, dryRun bool) (nft.Result, error) {
	res, err := e.next.Remove(ns, dryRun)
	return res, explain(res, err)
}
