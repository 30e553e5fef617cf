package reconcile

import (
	"errors"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/labels"
)

// What a container's own privileges let it do against its rules: with
// CAP_NET_ADMIN (or CAP_SYS_ADMIN, which can get it) it can delete,
// replace or freeze dcfw's table, read the raw-frame secret and set
// conntrack marks; dcfw repairs the table every cycle, but cannot stop
// that. CAP_NET_RAW (a default) sends frames past the IP stack's hooks,
// which only the egress hook (Linux ≥ 5.16) filters.

// privileges are the capabilities of a container that matter to dcfw.
type privileges struct {
	privileged, netAdmin, sysAdmin, netRaw bool
	// known: from an inspect (the sandbox path and the checks without the
	// engine do not know them).
	known bool
}

// privilegesOf works out the container's capabilities the way the engine
// does: --privileged has all; CapAdd ALL has all but those dropped;
// CapDrop ALL leaves only those added; otherwise the defaults (NET_RAW
// among them, NET_ADMIN and SYS_ADMIN not) minus those dropped plus those
// added.
func privilegesOf(info engine.ContainerInfo) privileges {
	adds, drops := capSet(info.CapAdd), capSet(info.CapDrop)
	has := func(name string, byDefault bool) bool {
		switch {
		case info.Privileged:
			return true
		case adds["ALL"]:
			return !drops[name]
		case drops["ALL"]:
			return adds[name]
		}
		return adds[name] || byDefault && !drops[name]
	}
	return privileges{
		privileged: info.Privileged,
		netAdmin:   has("NET_ADMIN", false),
		sysAdmin:   has("SYS_ADMIN", false),
		netRaw:     has("NET_RAW", true),
		known:      true,
	}
}

// capSet normalizes capability names as the engine accepts them: any
// case, with or without the CAP_ prefix.
func capSet(caps []string) map[string]bool {
	out := make(map[string]bool, len(caps))
	for _, c := range caps {
		c = strings.ToUpper(strings.TrimSpace(c))
		out[strings.TrimPrefix(c, "CAP_")] = true
	}
	return out
}

// risks names what lets the container change its own rules ("" none).
func (p privileges) risks() []string {
	var out []string
	if p.privileged {
		out = append(out, "--privileged")
	}
	if p.netAdmin {
		out = append(out, "CAP_NET_ADMIN")
	}
	if p.sysAdmin {
		out = append(out, "CAP_SYS_ADMIN")
	}
	return out
}

// errPrivileged is the error of a container that --strict locks down.
var errPrivileged = errors.New("the container has privileges to change its own firewall rules")

const privilegeRisk = "it can delete or replace its dcfw rules, read the raw-frame secret and set conntrack marks: " +
	"dcfw repairs its table every cycle but cannot stop that"

// checkPrivileges reports a member that could undo its own rules, once per
// change: a warning, or with --strict an error, and then it reports true
// (lock the namespace down). Only members that ask for a table count.
func (c *Controller) checkPrivileges(m member) (lockdown bool) {
	risks := m.privs.risks()
	subject := "privileges:" + m.ctr.ID
	if len(risks) == 0 || (m.perr == nil && m.policy.State != labels.Enabled) {
		c.errs.clear(subject)
		return false
	}
	level, msg := zapcore.WarnLevel, "the container can change its own firewall rules"
	fix := "drop the capability (cap_drop, no --privileged), or start dcfw with --strict to lock such containers down"
	if c.cfg.Strict {
		level, msg = zapcore.ErrorLevel, "the container can change its own firewall rules; locked down (--strict): only loopback traffic passes"
		fix = "drop the capability (cap_drop, no --privileged)"
	}
	if c.errs.allow(subject, level.String()+strings.Join(risks, ","), c.now()) {
		if ce := c.log.Check(level, msg); ce != nil {
			ce.Write(zap.String("container", m.ctr.Name()), zap.String("id", engine.ShortID(m.ctr.ID)),
				zap.Strings("privileges", risks), zap.String("risk", privilegeRisk), zap.String("fix", fix))
		}
	}
	return c.cfg.Strict
}

// reportEgress says, once, that the kernel cannot filter raw frames, and
// warns about each member that keeps NET_RAW (once per change).
func (c *Controller) reportEgress(g *nsGroup, unsupported bool) {
	if unsupported && !c.rawUnfiltered {
		c.rawUnfiltered = true
		c.log.Warn("raw-frame filtering unavailable: this kernel has no netdev egress hook (Linux < 5.16); "+
			"a protected container with CAP_NET_RAW can send frames that its output rules never see",
			zap.String("fix", "cap_drop: [NET_RAW] on containers that do not need raw sockets"))
	}
	c.warnNetRaw(g, "netraw", unsupported,
		"the container keeps CAP_NET_RAW and this kernel cannot filter raw frames: it can send past its output rules")
}

// reportNamesNetRaw warns about each member of a namespace whose rules use
// names and that keeps NET_RAW (once per change): with a raw socket it can
// forge the answers to the lookups dcfw sends from inside its namespace,
// and so choose the addresses its names stand for.
func (c *Controller) reportNamesNetRaw(g *nsGroup, usesNames bool) {
	c.warnNetRaw(g, "namesraw", usesNames,
		"the container's rules use names and it keeps CAP_NET_RAW: it can forge the answers to dcfw's lookups in its namespace, and so choose the addresses of its names")
}

// warnNetRaw warns with msg, once per change, about each member that keeps
// NET_RAW where the risk applies, and forgets the warning (kind) where it
// no longer does. A member whose privileges are unknown keeps its state.
func (c *Controller) warnNetRaw(g *nsGroup, kind string, applies bool, msg string) {
	for _, m := range g.members {
		subject := kind + ":" + m.ctr.ID
		if !m.privs.known {
			continue
		}
		if !applies || !m.privs.netRaw {
			c.errs.clear(subject)
			continue
		}
		if c.errs.allow(subject, "NET_RAW", c.now()) {
			c.log.Warn(msg, zap.String("container", m.ctr.Name()), zap.String("id", engine.ShortID(m.ctr.ID)),
				zap.String("fix", "cap_drop: [NET_RAW]"))
		}
	}
}
