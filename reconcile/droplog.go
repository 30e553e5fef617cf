package reconcile

import (
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/droplog"
	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nflog"
	"github.com/dcfw/dcfw/nft"
)

// LogBlocked says where the log rules of dcfw's tables send what they log.
type LogBlocked int

const (
	// LogKernel (the zero value) keeps the kernel log: lines appear only
	// where the host sets net.netfilter.nf_log_all_netns=1, without the
	// container's name.
	LogKernel LogBlocked = iota
	// LogDcfw sends them to NFLOG inside each namespace, read by dcfw
	// itself (Config.DropLog) and written to its own log.
	LogDcfw
	// LogOff removes the log rules: nothing is logged anywhere.
	LogOff
)

// ParseLogBlocked parses the --log-blocked flag value.
func ParseLogBlocked(s string) (LogBlocked, error) {
	switch s {
	case "kernel":
		return LogKernel, nil
	case "dcfw":
		return LogDcfw, nil
	case "off":
		return LogOff, nil
	}
	return 0, fmt.Errorf("invalid log-blocked mode %q: want dcfw, kernel or off", s)
}

func (l LogBlocked) String() string {
	switch l {
	case LogDcfw:
		return "dcfw"
	case LogOff:
		return "off"
	}
	return "kernel"
}

// DropLog receives what the log rules of each managed namespace send to
// NFLOG (LogDcfw). *droplog.Hub implements it.
type DropLog interface {
	// Group is the NFLOG group the tables' log rules send to.
	Group() uint16
	// Watch makes sure namespace id (open as nsFd, not kept) is read, for
	// container c, whose table's log rules are rules.
	Watch(id netnsutil.ID, nsFd int, c droplog.Container, rules nft.LogRules) error
	// Forget stops reading namespace id, releasing it.
	Forget(id netnsutil.ID)
	// Retain stops reading every namespace keep does not want.
	Retain(keep func(netnsutil.ID) bool)
	// BlockedAll is the blocked packets logged in the last hour, per
	// namespace read.
	BlockedAll() map[netnsutil.ID]int
}

var _ DropLog = (*droplog.Hub)(nil)

// loggedTable is a desired table with its log rules rewritten for the
// LogBlocked mode, remembered by the fingerprint of the table it came
// from: the verdict cache hands out the same tables in every cycle, and
// cloning and rendering one again each time would cost what it saves.
type loggedTable struct {
	want desired
	used uint64
}

// withLogs returns want with its log rules as LogBlocked says. Every write
// goes through enforce, which calls it, so the sandbox path, the PID path
// and the checks without the engine write the same table; a want that
// already went through it (the one remembered in applied) is returned as
// it is.
func (c *Controller) withLogs(want desired) desired {
	if c.cfg.LogBlocked == LogKernel || want.table == nil || want.logsSet {
		return want
	}
	if lt := c.logged[want.fingerprint]; lt != nil {
		lt.used = c.verdicts.cycle
		return lt.want
	}
	t := want.table.Clone()
	out := want
	out.table, out.logsSet = t, true
	if c.cfg.LogBlocked == LogOff {
		t.WithoutLogs()
	} else {
		out.logRules = t.LogToGroup(c.cfg.DropLog.Group())
	}
	out.fingerprint = t.String()
	c.logged[want.fingerprint] = &loggedTable{want: out, used: c.verdicts.cycle}
	return out
}

// watchDropLog follows a successful write (or a check that found the
// table in place) of want into g's namespace: its NFLOG socket is opened
// if it is not yet, and told the table's log rules and the container, or
// closed when the table was removed.
func (c *Controller) watchDropLog(g *nsGroup, owner engine.Container, want desired) {
	if c.cfg.DropLog == nil || c.cfg.DryRun {
		return
	}
	nsID := g.ns.ID()
	if want.mode == ModeNoTable || len(want.logRules) == 0 {
		// Nothing in the table logs (allow policies, no log rule): no
		// socket, which would only hold the namespace.
		c.cfg.DropLog.Forget(nsID)
		return
	}
	err := c.cfg.DropLog.Watch(nsID, g.ns.Fd(), droplog.Container{Name: owner.Name(), ID: owner.ID}, want.logRules)
	if err == nil {
		c.errs.clear("droplog:" + nsID.String())
		return
	}
	msg := "cannot read the namespace's blocked packets (NFLOG); its rules are in place, but what they block is not in dcfw's log"
	if errors.Is(err, nflog.ErrGroupBusy) {
		msg = "another process in the namespace (a container with NET_ADMIN?) reads dcfw's NFLOG group first; its rules are in place, but what they block is not in dcfw's log"
	}
	c.logError("droplog:"+nsID.String(), msg, err, groupFields(g, owner, want)...)
}

// retainDropLog closes the NFLOG sockets of namespaces dcfw no longer
// manages: an open socket holds its namespace (and its interfaces) alive.
// Called after each full cycle and each reconcile after events, once the
// namespaces whose containers went have left c.applied.
func (c *Controller) retainDropLog() {
	if c.cfg.DropLog == nil {
		return
	}
	c.cfg.DropLog.Retain(func(id netnsutil.ID) bool {
		a, ok := c.applied[id]
		return ok && a.fingerprint != removedFingerprint
	})
}

// forgetDropLog closes namespace id's NFLOG socket, when its processes are
// gone and only the socket would keep it.
func (c *Controller) forgetDropLog(id netnsutil.ID) {
	if c.cfg.DropLog != nil {
		c.cfg.DropLog.Forget(id)
	}
}

// endLoggedCycle forgets the rewritten tables no namespace used in the
// full cycle that ends.
func (c *Controller) endLoggedCycle() {
	for k, lt := range c.logged {
		if lt.used != c.verdicts.cycle {
			delete(c.logged, k)
		}
	}
}

// dropLogFields describe the log mode in the start line.
func dropLogFields(l LogBlocked, d DropLog) []zap.Field {
	fields := []zap.Field{zap.Stringer("log_blocked", l)}
	if l == LogDcfw && d != nil {
		fields = append(fields, zap.Uint16("nflog_group", d.Group()))
	}
	return fields
}
