package reconcile

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
)

// Status is what `dcfw status` prints: every managed container, how it is
// protected, and whether its live table is what its labels say right now.
type Status struct {
	LogBlocked string            `json:"log_blocked"`
	Containers []ContainerStatus `json:"containers"`
}

// Values of ContainerStatus.Live.
const (
	LiveEqual   = "equal"   // the live table is the desired one
	LiveDiffers = "differs" // it is not (Differences says how)
	LiveUnknown = "unknown" // it could not be read (Error says why)
)

// ContainerStatus is one managed container. Containers that share a
// namespace have the same table, and so the same values but for their
// names.
type ContainerStatus struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Mode      Mode   `json:"mode"`
	// Input and Output are the policies ("deny", or "lockdown"), with the
	// number of rules from the labels.
	Input       string `json:"input"`
	InputRules  int    `json:"input_rules"`
	Output      string `json:"output"`
	OutputRules int    `json:"output_rules"`
	// Path is what put the table in place: "sandbox" (before the
	// process), "pid" (once it ran), or "found" (it was in place when dcfw
	// started).
	Path        string    `json:"path"`
	AppliedAt   time.Time `json:"applied_at"`
	Live        string    `json:"live"`
	Differences []string  `json:"differences,omitempty"`
	Error       string    `json:"error,omitempty"`
	// Blocked is the blocked packets dcfw logged in the last hour
	// (--log-blocked=dcfw only: the kernel's log rules do not count).
	Blocked *int `json:"blocked_last_hour,omitempty"`
}

// nsStatus is what the loop remembers about a namespace for Status.
type nsStatus struct {
	members   []engine.Container // owner first
	path      string
	appliedAt time.Time
}

// noteStatus records a successful enforce (status is kept on the loop, like
// everything the controller knows).
func (c *Controller) noteStatus(g *nsGroup, owner engine.Container, want desired, res nft.Result) {
	if c.cfg.DryRun || want.mode == ModeNoTable {
		return
	}
	nsID := g.ns.ID()
	s := c.status[nsID]
	if s == nil || res.Created {
		s = &nsStatus{path: "found", appliedAt: c.now()}
		if res.Created {
			s.path = pathPID
			if g.sandbox != nil {
				s.path = pathSandbox
			}
		}
		c.status[nsID] = s
	}
	s.members = s.members[:0]
	for _, m := range g.members {
		s.members = append(s.members, withoutLabels(m.ctr))
	}
}

// pruneStatus forgets the namespaces dcfw no longer manages.
func (c *Controller) pruneStatus() {
	for id := range c.status {
		if a, ok := c.applied[id]; !ok || a.fingerprint == removedFingerprint {
			delete(c.status, id)
		}
	}
}

// Status asks the running loop (Run) for the status of every managed
// container; it reads each live table, so the answer is now's.
func (c *Controller) Status(ctx context.Context) (Status, error) {
	reply := make(chan Status, 1)
	select {
	case c.statusQ <- reply:
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
	select {
	case s := <-reply:
		return s, nil
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
}

// statusReport builds Status on the loop: each namespace is found again
// through its members' processes, and its live table compared with the
// desired one (a dry-run Apply: a read, no write).
func (c *Controller) statusReport() Status {
	out := Status{LogBlocked: c.cfg.LogBlocked.String(), Containers: []ContainerStatus{}}
	var blocked map[netnsutil.ID]int
	if c.cfg.LogBlocked == LogDcfw && c.cfg.DropLog != nil {
		blocked = c.cfg.DropLog.BlockedAll()
	}
	for id, s := range c.status {
		a, ok := c.applied[id]
		if !ok {
			continue
		}
		in, outp, nin, nout := a.want.chainSummary()
		base := ContainerStatus{Namespace: id.String(), Mode: a.want.mode, Input: in, InputRules: nin,
			Output: outp, OutputRules: nout, Path: s.path, AppliedAt: s.appliedAt, Live: LiveUnknown}
		if n, ok := blocked[id]; ok {
			base.Blocked = &n
		}
		if ns := c.reopen(id, a); ns == nil {
			base.Error = "the namespace is not reachable through its containers' processes"
		} else {
			res, err := c.cfg.Firewall.Apply(ns, a.want.table, true, nft.Generation{})
			ns.Close()
			switch {
			case err != nil:
				base.Error = safeText(err.Error())
			case res.Changed():
				base.Live, base.Differences = LiveDiffers, res.Differences
			default:
				base.Live = LiveEqual
			}
		}
		for _, m := range s.members {
			cs := base
			cs.Name, cs.ID = m.Name(), engine.ShortID(m.ID)
			out.Containers = append(out.Containers, cs)
		}
	}
	slices.SortFunc(out.Containers, func(a, b ContainerStatus) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out
}
