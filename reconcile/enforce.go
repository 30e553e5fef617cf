package reconcile

import (
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nft"
)

// enforce makes the group's namespace hold want, and logs what it did. It
// reports whether anything was written (in dry-run: would be), and ok=false
// if the write failed; the next cycle retries it.
func (c *Controller) enforce(g *nsGroup, owner engine.Container, want desired) (changed, ok bool) {
	nsID := g.ns.ID()
	want = c.withLogs(want)
	fields := groupFields(g, owner, want)

	// Drift is a difference although nothing changed on dcfw's side since
	// its last successful write: same desired table, same containers and
	// processes. Anything else is a change of configuration (or a first
	// sight, e.g. after dcfw restarted).
	now := applied{fingerprint: want.fingerprint, incarnation: incarnation(g), holders: holders(g, owner),
		want: want, owner: withoutLabels(owner), members: heldMembers(g)}
	prev, had := c.applied[nsID]
	same := had && prev.sameAs(now)

	// Answer by the generation alone (nft.Conn.ApplyKnown) only for the
	// same desired table in the same namespace incarnation, with every
	// member's process known: docs/DESIGN.md, "Skipping unchanged
	// namespaces".
	var known nft.Generation
	if same && processesKnown(g) {
		known = prev.gen
	}

	start := time.Now()
	var res nft.Result
	var err error
	if want.mode == ModeNoTable {
		res, err = c.cfg.Firewall.Remove(g.ns, c.cfg.DryRun)
	} else {
		res, err = c.cfg.Firewall.Apply(g.ns, want.table, c.cfg.DryRun, known)
	}
	took := time.Since(start)
	if err != nil {
		if had && prev.gen.Known {
			// Whatever happened, trust nothing remembered about the live
			// table: the next cycle reads it.
			prev.gen = nft.Generation{}
			c.applied[nsID] = prev
		}
		if len(res.Differences) > 0 {
			// The live rules differ from the labels and the write that
			// should repair them failed (e.g. a table the container made
			// first with flags owner): the namespace is not protected as
			// it should be, which must not go quiet for ErrorRepeat.
			c.errs.clear("apply:" + nsID.String())
			c.log.Error("cannot write the namespace's rules: they differ from what its labels say and the namespace is NOT protected as labelled; retrying next cycle (logged every cycle)",
				append(fields, zap.Strings("differences", res.Differences), zap.Error(err))...)
			return false, false
		}
		c.logError("apply:"+nsID.String(), "cannot write the namespace's rules; retrying next cycle", err, fields...)
		return false, false
	}
	c.errs.clear("apply:" + nsID.String())
	c.reportEgress(g, res.EgressUnsupported)

	drift := same
	now.gen = res.Generation
	if !c.cfg.DryRun {
		c.applied[nsID] = now
	}
	c.watchDropLog(g, owner, want)
	c.noteStatus(g, owner, want, res)

	if !res.Changed() {
		c.log.Debug("in desired state", append(fields, zap.Duration("duration", took))...)
		return false, true
	}
	fields = append(fields,
		zap.Bool("created", res.Created),
		zap.Bool("removed", res.Removed),
		zap.Strings("chains_written", res.Chains),
		zap.Int("writes", res.Writes),
		zap.Duration("duration", took),
	)
	switch {
	case c.cfg.DryRun:
		// Dry-run changes nothing, so the same difference shows in every
		// cycle: log it once per change, like an error.
		if c.errs.allow("dry:"+nsID.String(), want.fingerprint+"\n"+strings.Join(res.Differences, "\n"), c.now()) {
			c.log.Info("dry run: would "+verb(want, res), append(fields, zap.Strings("differences", res.Differences))...)
		}
	case drift:
		c.log.Warn("drift repaired: the namespace's dcfw table had been changed outside dcfw",
			append(fields, zap.Strings("differences", res.Differences))...)
	case want.mode == ModeNoTable:
		c.log.Info("protection removed (dcfw.enable=false)", fields...)
	case res.Created:
		c.log.Info("protection applied", append(fields, c.pathFields(g, owner)...)...)
	default:
		// A change of a name's addresses alone is logged per name.
		if !c.logNameChanges(fields, res) {
			c.log.Info("protection changed", append(fields, zap.Strings("differences", res.Differences))...)
		}
	}
	return true, true
}

func withoutLabels(ctr engine.Container) engine.Container {
	ctr.Labels = nil
	return ctr
}

func heldMembers(g *nsGroup) []heldMember {
	out := make([]heldMember, len(g.members))
	for i, m := range g.members {
		out[i] = heldMember{ctr: withoutLabels(m.ctr), pid: m.pid}
	}
	return out
}

// processesKnown reports whether every member of g has its process (PID).
func processesKnown(g *nsGroup) bool {
	for _, m := range g.members {
		if m.pid <= 0 {
			return false
		}
	}
	return true
}

func verb(want desired, res nft.Result) string {
	switch {
	case want.mode == ModeNoTable:
		return "remove protection"
	case res.Created:
		return "apply protection"
	}
	return "change protection"
}

// groupFields describe a namespace and its desired state for logs: which
// container(s), which policies, how many rules.
func groupFields(g *nsGroup, owner engine.Container, want desired) []zap.Field {
	in, out, nin, nout := want.chainSummary()
	fields := []zap.Field{
		zap.String("container", owner.Name()),
		zap.String("id", engine.ShortID(owner.ID)),
	}
	if len(g.members) > 1 || g.members[0].ctr.ID != owner.ID {
		fields = append(fields, zap.Strings("members", memberNames(g)))
	}
	fields = append(fields,
		zap.String("namespace", g.ns.ID().String()),
		zap.String("mode", string(want.mode)),
	)
	if want.mode != ModeNoTable {
		tin, tout := want.table.RuleCount()
		fields = append(fields,
			zap.String("input", in), zap.Int("input_rules", nin),
			zap.String("output", out), zap.Int("output_rules", nout),
			zap.Ints("table_rules", []int{tin, tout}),
		)
	}
	return fields
}

// reportLabelErrors logs a container's label errors, each with its label
// key and rule text, once per change (then again after ErrorRepeat).
func (c *Controller) reportLabelErrors(m member) {
	lines := m.errLines
	if lines == nil {
		lines = labelErrorLines(m.perr)
	}
	consequence := "container locked down: only loopback traffic passes until the labels are fixed"
	if c.cfg.OnError == Skip {
		consequence = "container left untouched (--on-error=skip): its labels are NOT enforced"
	}
	if c.errs.allow("labels:"+m.ctr.ID, strings.Join(lines, "\n"), c.now()) {
		fields := []zap.Field{zap.String("container", m.ctr.Name()), zap.String("id", engine.ShortID(m.ctr.ID))}
		if errors.Is(m.perr, labels.ErrFromImage) && m.ctr.Image != "" {
			fields = append(fields, zap.String("image", engine.SafeName(m.ctr.Image)))
		}
		c.log.Error("invalid dcfw labels; "+consequence, append(fields, zap.Strings("errors", lines))...)
	}
}
