package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/names"
	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
)

// Names in rules (docs/DESIGN.md, "Names in rules"). A namespace whose
// rules use names has them resolved in every reconcile of it, inside the
// namespace, and their addresses kept in nameState.cache under the
// namespace owner's ID; the desired table is the policy's structure
// (compiled once per label set, with empty sets) with the sets filled from
// the cache, so a change of addresses alone writes only set elements.

// maxParallelNamespaces bounds the namespaces whose names are resolved at
// once (each runs up to names.MaxParallelLookups lookups).
const maxParallelNamespaces = 4

// defaultBridge is the engine's name of the default bridge network, whose
// containers' resolver (the host's) knows no container names.
const defaultBridge = "bridge"

// errNameLockdown: a deny or reject rule's name stands for no address.
var errNameLockdown = errors.New("a deny or reject rule's name has no address")

// nameState is the controller's knowledge of names. It belongs to the loop
// (the cache is safe for concurrent use, the maps are not).
type nameState struct {
	cache names.Cache
	// users are the containers whose rules use names, by ID, with the
	// full cycle that last saw them: their names are resolved again when
	// any container starts, stops or joins or leaves a network.
	users map[string]uint64
	// listed are the listed containers' addresses, by ID: a container
	// that stops takes its addresses out of every name at once (the
	// engine may give them to the next container). Kept one full cycle
	// after a container is no longer listed, so that its die event,
	// which may come after the listing, still finds them.
	listed map[string]listedAddrs
	// scopes are the cache's scopes (namespace owners): the full cycle
	// that last used each, and its names then.
	scopes map[string]scopeState
	cycle  uint64
	// followers are the users to resolve again after the containers the
	// events were about are reconciled: their lookups must not hold up a
	// starting container's rules.
	followers map[string]bool
}

type scopeState struct {
	cycle uint64
	names []string
}

type listedAddrs struct {
	nets  map[string][]netip.Addr
	cycle uint64
}

func newNameState() nameState {
	return nameState{users: map[string]uint64{}, listed: map[string]listedAddrs{}, scopes: map[string]scopeState{}, followers: map[string]bool{}}
}

// unansweredFamily is a family whose query failed: its addresses are
// unknown, not absent.
type unansweredFamily struct {
	v6  bool
	err error
}

func (u unansweredFamily) String() string {
	q := "A"
	if u.v6 {
		q = "AAAA"
	}
	return q + " unanswered: " + u.err.Error()
}

// groupNames are the addresses of a namespace's names for this reconcile.
type groupNames struct {
	scope string
	addrs nft.NameAddrs
	// fingerprint is the names and their addresses, part of the desired
	// state's fingerprint: other addresses, another desired table.
	fingerprint string
	// states are the names' lookup states (nil: resolved).
	states map[string]error
	// unanswered are the names one family of which went unanswered in
	// this lookup (timeout, server failure) while the other answered.
	unanswered map[string]unansweredFamily
}

// learnAddrs records the listed containers' addresses.
func (n *nameState) learnAddrs(all []engine.Container) {
	for _, ctr := range all {
		if len(ctr.Networks) > 0 {
			n.listed[ctr.ID] = listedAddrs{nets: ctr.Networks, cycle: n.cycle}
		}
	}
}

// endCycle forgets, after a full cycle, the names of namespaces no longer
// reconciled and the containers no longer listed.
func (n *nameState) endCycle() {
	clear(n.followers) // a full cycle resolved every name
	for scope, sc := range n.scopes {
		if sc.cycle != n.cycle {
			n.cache.Forget(scope, nil)
			delete(n.scopes, scope)
		}
	}
	for id, cyc := range n.users {
		if cyc != n.cycle {
			delete(n.users, id)
		}
	}
	for id, l := range n.listed {
		if l.cycle+1 < n.cycle {
			delete(n.listed, id)
		}
	}
	n.cycle++
}

// namesEvent updates the names' knowledge from one engine event and adds
// to targets the containers whose names must be resolved again now: a
// container that starts may be the new holder of a name (a recreated db),
// one that stops or leaves a network no longer holds its addresses.
func (c *Controller) namesEvent(ev engine.Event) {
	n := &c.names
	switch ev.Kind {
	case engine.EventDie, engine.EventDestroy, engine.EventNetworkDisconnect:
		l, ok := n.listed[ev.ContainerID]
		if !ok {
			break
		}
		var gone []netip.Addr
		for net, addrs := range l.nets {
			if ev.Kind != engine.EventNetworkDisconnect || net == ev.NetworkName {
				gone = append(gone, addrs...)
			}
		}
		if len(gone) > 0 {
			if keys := n.cache.Evict(gone...); len(keys) > 0 {
				c.log.Debug("a stopped container's addresses dropped from names",
					zap.String("id", engine.ShortID(ev.ContainerID)), zap.Stringers("addresses", gone), zap.Int("names", len(keys)))
			}
		}
		if ev.Kind == engine.EventDestroy {
			delete(n.listed, ev.ContainerID)
			delete(n.users, ev.ContainerID)
		}
	}
	switch ev.Kind {
	case engine.EventStart, engine.EventRestart, engine.EventDie, engine.EventNetworkConnect, engine.EventNetworkDisconnect:
		for id := range n.users {
			n.followers[id] = true
		}
	}
}

// takeFollowers returns the users to resolve again after an event's own
// containers, less those among them, and forgets them.
func (n *nameState) takeFollowers(targets map[string]bool) map[string]bool {
	out := map[string]bool{}
	for id := range n.followers {
		if !targets[id] {
			out[id] = true
		}
	}
	clear(n.followers)
	return out
}

// nameJob is the lookup of one namespace's names.
type nameJob struct {
	g     *nsGroup
	owner engine.Container
	query NameQuery
	// names are all the namespace's names; query.Names those asked of
	// the resolver.
	names []string
	// fromEngine are the answers the engine gave (the default bridge).
	fromEngine map[string]names.Answer
	results    []names.Result
}

// resolveNames resolves the names of every group whose rules use names,
// several namespaces at once, and sets each group's names. all is every
// running container (for owners and the default bridge).
func (c *Controller) resolveNames(ctx context.Context, groups map[netnsutil.ID]*nsGroup, order []netnsutil.ID, all []engine.Container) {
	n := &c.names
	n.learnAddrs(all)
	var jobs []*nameJob
	var bridge bridgeIndex
	for _, id := range order {
		g := groups[id]
		var want []string
		for _, m := range g.members {
			if m.perr != nil || m.policy.State != labels.Enabled {
				continue
			}
			if m.policy.HasNames() {
				want = append(want, m.policy.Names()...)
				n.users[m.ctr.ID] = n.cycle
			}
		}
		c.reportNamesNetRaw(g, len(want) > 0)
		if len(want) == 0 {
			continue
		}
		slices.Sort(want)
		want = slices.Compact(want)
		owner := namespaceOwner(g, all)
		j := &nameJob{g: g, owner: owner, names: want, query: NameQuery{NS: g.ns, Names: want}}
		j.query.Embedded = onUserNetwork(owner)
		j.query.DNS = c.cache[owner.ID].DNS
		if bridge == nil {
			bridge = newBridgeIndex(all)
		}
		j.fromEngine = bridge.answers(owner, want)
		if len(j.fromEngine) > 0 {
			j.query.Names = slices.DeleteFunc(slices.Clone(want), func(name string) bool { _, ok := j.fromEngine[name]; return ok })
		}
		jobs = append(jobs, j)
	}
	if len(jobs) == 0 {
		return
	}
	if c.cfg.Resolver != nil {
		_, _ = awaitEngine(c, func() (struct{}, error) {
			c.runNameJobs(ctx, jobs)
			return struct{}{}, nil
		})
	}
	now := c.now()
	for _, j := range jobs {
		c.takeNameResults(j, now)
	}
}

// runNameJobs runs the lookups, at most maxParallelNamespaces namespaces
// at once, each bounded by NameTimeout. It only reads: the results are
// taken on the loop.
func (c *Controller) runNameJobs(ctx context.Context, jobs []*nameJob) {
	sem := make(chan struct{}, maxParallelNamespaces)
	var wg sync.WaitGroup
	for _, j := range jobs {
		if len(j.query.Names) == 0 {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			jctx, cancel := context.WithTimeout(ctx, c.cfg.NameTimeout)
			defer cancel()
			j.results = c.cfg.Resolver.Resolve(jctx, j.query)
		}()
	}
	wg.Wait()
}

// errNoResolver is the state of every name when the controller has no
// NameResolver: names stand for nothing.
var errNoResolver = errors.New("names are not resolved (no resolver configured)")

// takeNameResults puts one namespace's answers into the cache, logs each
// name whose state changed (once per change), and sets the group's names.
func (c *Controller) takeNameResults(j *nameJob, now time.Time) {
	n := &c.names
	scope := j.owner.ID
	prev, known := n.scopes[scope]
	n.scopes[scope] = scopeState{cycle: n.cycle, names: j.names}
	byName := make(map[string]names.Result, len(j.names))
	for name, ans := range j.fromEngine {
		byName[name] = names.Result{Name: name, Answer: ans}
	}
	for i, name := range j.query.Names {
		r := names.Result{Name: name, Err: errNoResolver}
		if i < len(j.results) {
			r = j.results[i]
		}
		byName[name] = r
	}
	gn := &groupNames{scope: scope, addrs: make(nft.NameAddrs, len(j.names)), states: make(map[string]error, len(j.names))}
	var fp strings.Builder
	for _, name := range j.names {
		r := byName[name]
		ch := n.cache.Update(names.Key{Scope: scope, Name: name}, r.Answer, r.Err, now)
		gn.addrs[name] = ch.Addrs
		gn.states[name] = ch.State
		if r.Err == nil && r.Answer.Unanswered != nil {
			if gn.unanswered == nil {
				gn.unanswered = map[string]unansweredFamily{}
			}
			gn.unanswered[name] = unansweredFamily{v6: r.Answer.UnansweredV6, err: r.Answer.Unanswered}
		}
		writeNameAddrs(&fp, name, ch.Addrs)
		if ch.StateChanged {
			_, engineAnswer := j.fromEngine[name]
			c.logNameState(j.owner, name, r.Err, ch, engineAnswer)
		}
	}
	if known && !slices.Equal(prev.names, j.names) {
		// Names its rules no longer use (the cache walks every entry:
		// not in every cycle).
		n.cache.Forget(scope, j.names)
	}
	gn.fingerprint = fp.String()
	j.g.names = gn
}

func writeNameAddrs(b *strings.Builder, name string, addrs []netip.Addr) {
	b.WriteString(name)
	b.WriteByte('=')
	for i, a := range addrs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.String())
	}
	b.WriteByte('\n')
}

// logNameState logs a name whose state changed: resolved (info), or not
// (warn), with the container whose namespace it was resolved in.
func (c *Controller) logNameState(owner engine.Container, name string, err error, ch names.Change, engineAnswer bool) {
	fields := []zap.Field{zap.String("container", owner.Name()), zap.String("id", engine.ShortID(owner.ID)), zap.String("name", name)}
	if ch.State == nil {
		source := "dns"
		if engineAnswer {
			source = "engine (default bridge)"
		}
		c.log.Info("name resolved", append(fields, zap.Stringers("addresses", ch.Addrs), zap.String("source", source))...)
		return
	}
	msg := "name does not resolve: rules with it match nothing (an allow rule allows nothing)"
	if len(ch.Addrs) > 0 {
		msg = "name does not resolve now: its addresses stay until their retention ends"
		fields = append(fields, zap.Stringers("addresses", ch.Addrs))
	}
	c.log.Warn(msg, append(fields, zap.String("error", safeText(err.Error())))...)
}

// bridgeIndex answers container names on the default bridge from the
// listing: there the container's resolver is the host's, which knows no
// container names, so the engine is asked instead.
type bridgeIndex map[string][]netip.Addr

func newBridgeIndex(all []engine.Container) bridgeIndex {
	idx := bridgeIndex{}
	for _, ctr := range all {
		addrs, on := ctr.Networks[defaultBridge]
		if !on || len(addrs) == 0 {
			continue
		}
		for _, name := range ctr.Names {
			name = strings.ToLower(name)
			idx[name] = append(idx[name], addrs...)
		}
	}
	return idx
}

// onUserNetwork reports whether a container is on a network other than the
// default bridge, where the engine's embedded DNS is its resolver.
func onUserNetwork(ctr engine.Container) bool {
	for n := range ctr.Networks {
		if n != defaultBridge {
			return true
		}
	}
	return false
}

// answers returns the engine's answers for the names of a namespace whose
// owner is on the default bridge (nil otherwise): the addresses on the
// default bridge of the containers of that name.
func (idx bridgeIndex) answers(owner engine.Container, want []string) map[string]names.Answer {
	if _, on := owner.Networks[defaultBridge]; !on {
		return nil
	}
	var out map[string]names.Answer
	for _, name := range want {
		addrs := idx[name]
		if len(addrs) == 0 {
			continue
		}
		if out == nil {
			out = map[string]names.Answer{}
		}
		ans := names.Answer{Name: name}
		for _, a := range addrs {
			ans.Addrs = append(ans.Addrs, names.Addr{Addr: a})
		}
		out[name] = ans
	}
	return out
}

// wantStructure is wantPolicy for any policy: one whose rules use names is
// compiled with empty sets, which withNames fills per namespace. The
// structure depends only on the labels, so the verdict cache keeps it per
// label set like any other.
func wantStructure(p labels.Policy, prefixID string) (desired, error) {
	if !p.HasNames() {
		return wantPolicy(p, prefixID)
	}
	t, err := nft.CompileNames(p, prefixID, nil)
	if err != nil {
		return desired{}, err
	}
	return desired{mode: ModePolicy, table: t, policy: p, fingerprint: t.String()}, nil
}

// withNames fills the sets of a member's desired table with the addresses
// of the group's names. A deny or reject rule whose name stands for no
// address would block less than its author meant: the namespace is locked
// down instead (errNameLockdown), and the log says which name and why,
// once per change.
func (c *Controller) withNames(g *nsGroup, m member, owner engine.Container, d desired) (desired, error) {
	if d.mode != ModePolicy || len(d.table.Sets) == 0 {
		return d, nil
	}
	gn := g.names
	if gn == nil {
		gn = c.cachedNames(owner.ID, d.policy.Names())
	}
	subject := "names:" + m.ctr.ID
	if missing := missingDenyNames(d.policy, gn); len(missing) > 0 {
		states := make([]string, len(missing))
		for i, name := range missing {
			why := "no address yet"
			if err := gn.states[name]; err != nil {
				why = err.Error()
			} else if u, ok := gn.unanswered[name]; ok {
				why = u.String()
			}
			states[i] = name + ": " + why
		}
		msg := "a deny or reject rule's name does not resolve, so the rule would block nothing; container locked down (only loopback and DNS queries to its upstream nameservers pass) until the name resolves"
		if c.errs.allow(subject, strings.Join(states, "\n"), c.now()) {
			c.log.Error(msg, zap.String("container", m.ctr.Name()), zap.String("id", engine.ShortID(m.ctr.ID)),
				zap.Strings("names", missing), zap.Strings("states", states))
		}
		return desired{}, fmt.Errorf("%w: %s", errNameLockdown, strings.Join(missing, ", "))
	}
	c.errs.clear(subject)
	return fillNames(d, gn), nil
}

// missingDenyNames are the deny and reject names that stand for no
// address, or for none of a family whose query went unanswered: a rule
// with them would block less than its author meant.
func missingDenyNames(p labels.Policy, gn *groupNames) []string {
	var missing []string
	for _, name := range p.DenyNames() {
		addrs := gn.addrs[name]
		u, partial := gn.unanswered[name]
		if len(addrs) == 0 || partial && !slices.ContainsFunc(addrs, func(a netip.Addr) bool { return a.Is6() == u.v6 }) {
			missing = append(missing, name)
		}
	}
	return missing
}

// cachedNames are the addresses the cache holds for names in scope,
// without resolving: for the sandbox path, whose namespace has no process
// yet (the PID path resolves moments later).
func (c *Controller) cachedNames(scope string, used []string) *groupNames {
	gn := &groupNames{scope: scope, addrs: make(nft.NameAddrs, len(used))}
	var fp strings.Builder
	for _, name := range used {
		gn.addrs[name] = c.names.cache.Addrs(names.Key{Scope: scope, Name: name})
		writeNameAddrs(&fp, name, gn.addrs[name])
	}
	gn.fingerprint = fp.String()
	return gn
}

// fillNames returns d with its sets holding the names' addresses: a copy
// of the table sharing its chains (never written to), with new sets.
func fillNames(d desired, gn *groupNames) desired {
	d.table = d.table.WithAddrs(gn.addrs)
	d.fingerprint += "\n# addresses of names\n" + gn.fingerprint
	return d
}

// wantNameLockdown is the desired state of a namespace locked down because
// a deny or reject rule's name has no address: the lockdown, except that
// DNS queries to the host's upstream nameservers leave. The engine's DNS
// forwards a container's queries from inside its namespace, so a plain
// lockdown would block the very lookups that could lift it. Any other
// server stays closed (a server of the container's choosing would carry
// anything on port 53); the upstream ones still relay queries, as they do
// for every container that resolves names. Without known upstream servers
// it is the plain lockdown.
func (c *Controller) wantNameLockdown(prefixID string) desired {
	var upstream []netip.Addr
	if c.cfg.Resolver != nil {
		upstream = c.cfg.Resolver.Upstream(c.cache[prefixID].DNS)
	}
	if len(upstream) == 0 {
		return wantLockdown(prefixID)
	}
	list := make([]string, len(upstream))
	for i, a := range upstream {
		list[i] = a.String()
	}
	to := strings.Join(list, ",")
	p, err := labels.Parse(map[string]string{
		"dcfw.enable":        "true",
		"dcfw.input.policy":  "deny",
		"dcfw.output.policy": "deny",
		"dcfw.output.rule.1": `allow proto udp to ` + to + ` port 53 comment "dcfw: names lockdown, DNS queries"`,
		"dcfw.output.rule.2": `allow proto tcp to ` + to + ` port 53 comment "dcfw: names lockdown, DNS queries"`,
	})
	if err != nil {
		return wantLockdown(prefixID)
	}
	t, err := nft.Compile(p, prefixID)
	if err != nil {
		return wantLockdown(prefixID)
	}
	return desired{mode: ModeLockdown, table: t, fingerprint: t.String()}
}

// wantSandboxNames is the sandbox path's desired state for a policy: with
// names, their sets hold what the cache has for the container (nothing,
// unless it ran before), and a deny or reject name without an address is
// a lockdown; the PID path resolves the names once the process runs.
func (c *Controller) wantSandboxNames(p labels.Policy, id string) (desired, error) {
	d, err := wantStructure(p, id)
	if err != nil || d.mode != ModePolicy || len(d.table.Sets) == 0 {
		return d, err
	}
	gn := c.cachedNames(id, p.Names())
	if missing := missingDenyNames(p, gn); len(missing) > 0 {
		return c.wantNameLockdown(id), nil
	}
	return fillNames(d, gn), nil
}

// logNameChanges logs each name whose set's elements Apply changed (name,
// added, removed), and reports whether that was all it changed.
func (c *Controller) logNameChanges(fields []zap.Field, res nft.Result) bool {
	for _, sc := range res.Sets {
		c.log.Info("addresses of a name changed", append(slices.Clip(fields[:2]),
			zap.String("name", sc.For), zap.String("family", familyName(sc.Family)),
			zap.Stringers("added", sc.Added), zap.Stringers("removed", sc.Removed))...)
	}
	return len(res.Sets) > 0 && len(res.Chains) == 0 && !res.Created && !res.Removed
}

func familyName(f nft.Family) string {
	if f == nft.IPv6 {
		return "ipv6"
	}
	return "ipv4"
}
