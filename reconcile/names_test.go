package reconcile

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/engine/enginetest"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/names"
	"github.com/dcfw/dcfw/nft"
)

// fakeResolver answers every namespace's lookups from one table of names,
// which the test changes as a DNS server's answers would change.
type fakeResolver struct {
	// onResolve, when set, is called with each query before it is
	// answered (on the resolver's goroutine).
	onResolve func(q NameQuery)
	// unanswered6: names whose AAAA query times out (A still answers).
	unanswered6 map[string]bool
	mu          sync.Mutex
	answers     map[string][]names.Addr
	errs        map[string]error
	queries     []NameQuery
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{answers: map[string][]names.Addr{}, errs: map[string]error{}}
}

// set makes name answer addrs, each with ttl.
func (r *fakeResolver) set(name string, ttl time.Duration, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.errs, name)
	r.answers[name] = nil
	for _, a := range addrs {
		r.answers[name] = append(r.answers[name], names.Addr{Addr: netip.MustParseAddr(a), TTL: ttl})
	}
}

// fail makes name's lookups fail with sentinel.
func (r *fakeResolver) fail(name string, sentinel error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.answers, name)
	r.errs[name] = sentinel
}

// fakeUpstream is the host's nameserver as the fake resolver reports it.
var fakeUpstream = netip.MustParseAddr("192.0.2.53")

func (r *fakeResolver) Upstream(dns []netip.Addr) []netip.Addr {
	if len(dns) > 0 {
		return dns
	}
	return []netip.Addr{fakeUpstream}
}

func (r *fakeResolver) Resolve(ctx context.Context, q NameQuery) []names.Result {
	if r.onResolve != nil {
		r.onResolve(q)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, NameQuery{Embedded: q.Embedded, DNS: q.DNS, Names: slices.Clone(q.Names)})
	out := make([]names.Result, len(q.Names))
	for i, n := range q.Names {
		out[i].Name = n
		switch {
		case r.errs[n] != nil:
			out[i].Err = &names.LookupError{Name: n, Err: r.errs[n]}
		case len(r.answers[n]) > 0:
			out[i].Answer = names.Answer{Name: n, Addrs: slices.Clone(r.answers[n])}
			if r.unanswered6[n] {
				out[i].Answer.Addrs = slices.DeleteFunc(out[i].Answer.Addrs, func(a names.Addr) bool { return a.Addr.Is6() })
				out[i].Answer.Unanswered = &names.LookupError{Name: n, Err: names.ErrTimeout}
				out[i].Answer.UnansweredV6 = true
			}
		default:
			out[i].Err = &names.LookupError{Name: n, Err: names.ErrNotFound}
		}
	}
	return out
}

// asked returns the names asked for so far, each query's names joined.
func (r *fakeResolver) asked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, q := range r.queries {
		out = append(out, strings.Join(q.Names, ","))
	}
	return out
}

func newNamesEnv(t *testing.T) (*testEnv, *fakeResolver) {
	t.Helper()
	r := newFakeResolver()
	e := newTestEnv(t, func(c *Config) { c.Resolver = r })
	if err := e.ctrl.identifyHost(); err != nil {
		t.Fatal(err)
	}
	return e, r
}

// namesTable is what lbls compile to with the names' addresses.
func namesTable(t *testing.T, lbls map[string]string, prefixID string, addrs map[string][]string) string {
	t.Helper()
	p, err := labels.Parse(lbls)
	if err != nil {
		t.Fatalf("labels: %v", err)
	}
	na := nft.NameAddrs{}
	for n, as := range addrs {
		for _, a := range as {
			na[n] = append(na[n], netip.MustParseAddr(a))
		}
	}
	tbl, err := nft.CompileNames(p, prefixID, na)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return tbl.String()
}

// events hands events to the controller as the loop does.
func (e *testEnv) events(evs ...engine.Event) {
	e.t.Helper()
	e.ctrl.handleEvents(context.Background(), evs, nil)
}

// writesSince returns the batches written since the first n.
func (e *testEnv) writesSince(n int) []memoryWrite {
	e.fw.mu.Lock()
	defer e.fw.mu.Unlock()
	return slices.Clone(e.fw.writes[n:])
}

func (e *testEnv) writeCount() int {
	e.fw.mu.Lock()
	defer e.fw.mu.Unlock()
	return len(e.fw.writes)
}

var webToDB = map[string]string{
	"dcfw.enable":        "true",
	"dcfw.input.policy":  "deny",
	"dcfw.input.rule.1":  "allow proto tcp from web port 1-65535 to any port 80",
	"dcfw.output.policy": "deny",
	"dcfw.output.rule.1": "allow proto tcp to db port 5432",
	"dcfw.output.rule.2": "allow proto udp to 10.0.0.53 port 53",
}

func TestNamesFillTheRulesSets(t *testing.T) {
	e, r := newNamesEnv(t)
	r.set("db", 600*time.Second, "10.0.0.5", "fd00::5")
	r.set("web", 600*time.Second, "10.0.0.7")
	c := e.start("app", webToDB)
	e.cycle()
	want := namesTable(t, webToDB, c.ID, map[string][]string{"db": {"10.0.0.5", "fd00::5"}, "web": {"10.0.0.7"}})
	if got := e.table(c); got != want {
		t.Fatalf("table:\n%s\nwant:\n%s", got, want)
	}
	if q := r.asked(); !slices.Equal(q, []string{"db,web"}) {
		t.Errorf("queries %q, want one of db and web", q)
	}
	if n := len(e.entries(zapcore.InfoLevel, "name resolved")); n != 2 {
		t.Errorf("%d \"name resolved\" lines, want 2 (one per name)", n)
	}
	e.resetLogs()
	e.cycle()
	if n := len(e.entries(zapcore.InfoLevel, "name resolved")); n != 0 {
		t.Errorf("an unchanged name was logged again (%d lines)", n)
	}
	if q := r.asked(); len(q) != 2 {
		t.Errorf("queries %q: want the names resolved again in the next cycle", q)
	}
}

func TestNamesAddressChangeWritesOnlySetElements(t *testing.T) {
	cases := []struct {
		name string
		ttl  time.Duration
		// keptFor: how long the old address stays after the answer changed.
		keptFor time.Duration
	}{
		{"short TTL: the minimum retention", 5 * time.Second, names.MinRetention},
		{"long TTL: the TTL", 120 * time.Second, 120 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, r := newNamesEnv(t)
			r.set("db", tc.ttl, "10.0.0.5")
			r.set("web", tc.ttl, "10.0.0.7")
			c := e.start("app", webToDB)
			e.cycle()
			n := e.writeCount()
			e.resetLogs()

			r.set("db", tc.ttl, "10.0.0.6") // the answer changed
			e.cycle()
			want := namesTable(t, webToDB, c.ID, map[string][]string{"db": {"10.0.0.5", "10.0.0.6"}, "web": {"10.0.0.7"}})
			if got := e.table(c); got != want {
				t.Fatalf("after the answer changed:\n%s\nwant both addresses:\n%s", got, want)
			}
			e.clock.Advance(tc.keptFor - time.Second)
			e.cycle()
			if got := e.table(c); got != want {
				t.Fatalf("%s after the change the old address is gone:\n%s", tc.keptFor-time.Second, got)
			}
			e.clock.Advance(2 * time.Second)
			e.cycle()
			want = namesTable(t, webToDB, c.ID, map[string][]string{"db": {"10.0.0.6"}, "web": {"10.0.0.7"}})
			if got := e.table(c); got != want {
				t.Fatalf("after the retention:\n%s\nwant:\n%s", got, want)
			}

			ws := e.writesSince(n)
			if len(ws) != 2 {
				t.Fatalf("%d writes, want 2 (one address added, one removed)", len(ws))
			}
			for _, w := range ws {
				if len(w.Chains) != 0 {
					t.Errorf("a change of addresses wrote chains %v", w.Chains)
				}
			}
			logs := e.entries(zapcore.InfoLevel, "addresses of a name changed")
			if len(logs) != 2 {
				t.Fatalf("%d lines about changed addresses, want 2", len(logs))
			}
			if field(logs[0], "name") != "db" || !slices.Equal(field(logs[0], "added").([]any), []any{"10.0.0.6"}) {
				t.Errorf("first change: %v", logs[0].ContextMap())
			}
			if !slices.Equal(field(logs[1], "removed").([]any), []any{"10.0.0.5"}) {
				t.Errorf("second change: %v", logs[1].ContextMap())
			}
			if n := len(e.entries(zapcore.InfoLevel, "protection changed")); n != 0 {
				t.Errorf("a change of addresses logged %d \"protection changed\" lines", n)
			}
		})
	}
}

func TestNamesRecreatedContainer(t *testing.T) {
	// db is recreated with a new address: the old one leaves the set at
	// db's die event (not after the embedded DNS's TTL of 600 s), the new
	// one comes at the new db's start event.
	e, r := newNamesEnv(t)
	r.set("db", 600*time.Second, "10.0.0.5")
	r.set("web", 600*time.Second, "10.0.0.7")
	app := e.start("app", webToDB, onNetwork("net", "10.0.0.7"))
	db := e.start("db", nil, onNetwork("net", "10.0.0.5"))
	e.cycle()
	n := e.writeCount()

	e.engine.Update(db.ID, func(c *enginetest.Container) { c.Running = false })
	r.fail("db", names.ErrNotFound)
	e.events(engine.Event{Kind: engine.EventDie, ContainerID: db.ID})
	want := namesTable(t, webToDB, app.ID, map[string][]string{"web": {"10.0.0.7"}})
	if got := e.table(app); got != want {
		t.Fatalf("after db died, app's table:\n%s\nwant no address for db:\n%s", got, want)
	}
	if len(e.entries(zapcore.WarnLevel, "name does not resolve")) != 1 {
		t.Errorf("want one warning that db does not resolve")
	}

	db2 := e.start("db2", nil, onNetwork("net", "10.0.0.9"))
	r.set("db", 600*time.Second, "10.0.0.9")
	e.events(engine.Event{Kind: engine.EventStart, ContainerID: db2.ID})
	want = namesTable(t, webToDB, app.ID, map[string][]string{"db": {"10.0.0.9"}, "web": {"10.0.0.7"}})
	if got := e.table(app); got != want {
		t.Fatalf("after the new db started, app's table:\n%s\nwant:\n%s", got, want)
	}
	for _, w := range e.writesSince(n) {
		if len(w.Chains) != 0 {
			t.Errorf("the recreation wrote chains %v", w.Chains)
		}
	}
}

// onNetwork attaches the container to a network with addresses, as the
// listing reports it.
func onNetwork(net string, addrs ...string) ctrOpt {
	return func(_ *testEnv, c *enginetest.Container) {
		if c.Networks == nil {
			c.Networks = map[string][]netip.Addr{}
		}
		for _, a := range addrs {
			c.Networks[net] = append(c.Networks[net], netip.MustParseAddr(a))
		}
	}
}

func TestNamesThatDoNotResolve(t *testing.T) {
	allow := map[string]string{
		"dcfw.enable":        "true",
		"dcfw.output.policy": "deny",
		"dcfw.output.rule.1": "allow to nowhere.example port 443",
	}
	deny := map[string]string{
		"dcfw.enable":        "true",
		"dcfw.output.policy": "allow",
		"dcfw.output.rule.1": "deny to nowhere.example",
	}
	cases := []struct {
		name     string
		labels   map[string]string
		lockdown bool
	}{
		{"allow rule: allows nothing", allow, false},
		{"deny rule: lockdown", deny, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, r := newNamesEnv(t)
			r.fail("nowhere.example", names.ErrNotFound)
			c := e.start("app", tc.labels)
			st := e.cycle()
			want := namesTable(t, tc.labels, c.ID, nil)
			if tc.lockdown {
				// The lockdown, but DNS queries to the host's nameservers
				// leave: the engine's DNS forwards from inside the
				// namespace, and the name must be able to resolve to
				// lift it. No other server: port 53 anywhere is a tunnel.
				want = e.ctrl.wantNameLockdown(c.ID).table.String()
				if !strings.Contains(want, "ip daddr 192.0.2.53 udp dport 53") || !strings.Contains(want, "ip daddr 192.0.2.53 tcp dport 53") ||
					strings.Count(want, "accept comment \"dcfw.output.rule") != 2 {
					t.Fatalf("the names lockdown lets more than DNS to the host's nameserver out:\n%s", want)
				}
			}
			if got := e.table(c); got != want {
				t.Fatalf("table:\n%s\nwant:\n%s", got, want)
			}
			if tc.lockdown != (st.Errors == 1) {
				t.Errorf("cycle stats %+v: a lockdown is an error, empty sets are not", st)
			}
			e.cycle()
			warns := e.entries(zapcore.WarnLevel, "name does not resolve")
			if len(warns) != 1 || field(warns[0], "name") != "nowhere.example" || field(warns[0], "container") != "app" {
				t.Errorf("want one warning naming the container and the name, got %d: %v", len(warns), warns)
			}
			locks := e.entries(zapcore.ErrorLevel, "locked down")
			if tc.lockdown && (len(locks) != 1 || !strings.Contains(strings.Join(anyStrings(field(locks[0], "states")), " "), "name not found")) {
				t.Errorf("want one lockdown error saying the name was not found, got %d: %v", len(locks), locks)
			}
			if !tc.lockdown && len(locks) != 0 {
				t.Errorf("an allow rule's name locked the container down: %v", locks)
			}

			// It resolves: the rules as labelled, and the log says so.
			r.set("nowhere.example", time.Minute, "192.0.2.1")
			e.resetLogs()
			e.cycle()
			want = namesTable(t, tc.labels, c.ID, map[string][]string{"nowhere.example": {"192.0.2.1"}})
			if got := e.table(c); got != want {
				t.Fatalf("once resolved:\n%s\nwant:\n%s", got, want)
			}
			if len(e.entries(zapcore.InfoLevel, "name resolved")) != 1 {
				t.Errorf("the change of state was not logged")
			}
		})
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestNamesWithoutResolver(t *testing.T) {
	// A controller without a resolver: names stand for nothing, so a deny
	// name locks down and an allow name allows nothing.
	e := newTestEnv(t)
	deny := map[string]string{"dcfw.enable": "true", "dcfw.output.rule.1": "deny to db"}
	allow := map[string]string{"dcfw.enable": "true", "dcfw.output.policy": "deny", "dcfw.output.rule.1": "allow to db"}
	d := e.start("d", deny)
	a := e.start("a", allow)
	e.cycle()
	if got := e.table(d); got != wantLockdown(d.ID).table.String() {
		t.Errorf("deny name without a resolver:\n%s\nwant the lockdown (no upstream nameserver known)", got)
	}
	if got, want := e.table(a), namesTable(t, allow, a.ID, nil); got != want {
		t.Errorf("allow name without a resolver:\n%s\nwant:\n%s", got, want)
	}
}

func TestNamesDefaultBridgeAskTheEngine(t *testing.T) {
	// On the default bridge the container's resolver knows no container
	// names: the engine's listing answers them; other names go to DNS.
	lbls := map[string]string{
		"dcfw.enable":        "true",
		"dcfw.output.policy": "deny",
		"dcfw.output.rule.1": "allow to db,api.example.com",
	}
	e, r := newNamesEnv(t)
	r.set("api.example.com", time.Minute, "192.0.2.10")
	app := e.start("app", lbls, onNetwork("bridge", "172.17.0.2"))
	e.start("db", nil, onNetwork("bridge", "172.17.0.3"))
	e.start("db-elsewhere", nil, onNetwork("other", "10.9.0.3"))
	e.cycle()
	want := namesTable(t, lbls, app.ID, map[string][]string{"db": {"172.17.0.3"}, "api.example.com": {"192.0.2.10"}})
	if got := e.table(app); got != want {
		t.Fatalf("table:\n%s\nwant:\n%s", got, want)
	}
	if q := r.asked(); !slices.Equal(q, []string{"api.example.com"}) {
		t.Errorf("DNS was asked %q, want only api.example.com", q)
	}
	logs := e.entries(zapcore.InfoLevel, "name resolved")
	if len(logs) != 2 || field(logs[1], "name") != "db" || !strings.Contains(field(logs[1], "source").(string), "engine") {
		t.Errorf("want db's answer logged as the engine's: %v", logs)
	}
}

func TestNamesStructureCompiledOncePerLabelSet(t *testing.T) {
	// The chains depend only on the labels: a change of addresses fills
	// the sets again but compiles nothing.
	e, r := newNamesEnv(t)
	r.set("db", time.Second, "10.0.0.5")
	r.set("web", time.Second, "10.0.0.7")
	e.start("a", webToDB)
	e.start("b", webToDB)
	e.cycle()
	compiles := e.ctrl.verdicts.compiles
	for i := range 3 {
		r.set("db", time.Second, "10.0.1."+string(rune('1'+i)))
		e.clock.Advance(time.Minute)
		e.cycle()
	}
	if got := e.ctrl.verdicts.compiles; got != compiles {
		t.Errorf("%d compiles after the addresses changed, want %d (one per label set and owner)", got, compiles)
	}
}

func TestNamesOfOthersResolvedAgainOnEvents(t *testing.T) {
	// Any container's start, die or network change resolves again the
	// names of every container that uses names; other events do not.
	e, r := newNamesEnv(t)
	r.set("db", time.Minute, "10.0.0.5")
	r.set("web", time.Minute, "10.0.0.7")
	e.start("app", webToDB)
	other := e.start("other", openLabels)
	e.cycle()
	for _, tc := range []struct {
		kind engine.EventKind
		want bool
	}{
		{engine.EventStart, true},
		{engine.EventDie, true},
		{engine.EventNetworkConnect, true},
		{engine.EventNetworkDisconnect, true},
		{engine.EventCreate, false},
	} {
		before := len(r.asked())
		e.events(engine.Event{Kind: tc.kind, ContainerID: other.ID, NetworkName: "net"})
		if got := len(r.asked()) > before; got != tc.want {
			t.Errorf("%s of another container: names resolved again %v, want %v", tc.kind, got, tc.want)
		}
	}
}

func TestNamesForgottenWithTheirContainer(t *testing.T) {
	e, r := newNamesEnv(t)
	r.set("db", time.Hour, "10.0.0.5")
	r.set("web", time.Hour, "10.0.0.7")
	c := e.start("app", webToDB)
	e.cycle()
	key := names.Key{Scope: c.ID, Name: "db"}
	if len(e.ctrl.names.cache.Addrs(key)) != 1 {
		t.Fatal("db not in the cache")
	}
	e.engine.Delete(c.ID)
	e.cycle()
	if a := e.ctrl.names.cache.Addrs(key); a != nil {
		t.Errorf("names of a container that is gone are kept: %v", a)
	}
	if len(e.ctrl.names.users) != 0 || len(e.ctrl.names.scopes) != 0 {
		t.Errorf("users %v, scopes %v: want none", e.ctrl.names.users, e.ctrl.names.scopes)
	}
}

func TestNamesNoLongerUsedAreForgotten(t *testing.T) {
	// A container that joined the namespace brought a name; when it
	// leaves, the namespace's cache entry for that name goes.
	e, r := newNamesEnv(t)
	r.set("db", time.Hour, "10.0.0.5")
	r.set("web", time.Hour, "10.0.0.7")
	app := e.start("app", map[string]string{"dcfw.enable": "true", "dcfw.output.rule.1": "allow to db"})
	side := e.start("side", map[string]string{"dcfw.enable": "true", "dcfw.output.rule.1": "allow to web"}, joining(app))
	e.cycle()
	web := names.Key{Scope: app.ID, Name: "web"}
	if len(e.ctrl.names.cache.Addrs(web)) != 1 {
		t.Fatal("the joined container's name is not in the namespace's cache")
	}
	e.engine.Delete(side.ID)
	e.cycle()
	if a := e.ctrl.names.cache.Addrs(web); a != nil {
		t.Errorf("a name no rule of the namespace uses is kept: %v", a)
	}
	if a := e.ctrl.names.cache.Addrs(names.Key{Scope: app.ID, Name: "db"}); len(a) != 1 {
		t.Errorf("the name still used was dropped: %v", a)
	}
}

func TestNamesOnTheSandboxPath(t *testing.T) {
	// Before its process runs, a starting container's names have no
	// addresses (nothing to read its resolv.conf through): its sets are
	// empty, and a deny name is the names lockdown. Its start brings the
	// PID path, which resolves them.
	cases := []struct {
		name   string
		labels map[string]string
		// lockdown: the sandbox path writes the names lockdown.
		lockdown bool
	}{
		{"allow names: empty sets, then only set elements written", webToDB, false},
		{"deny name: lockdown, then lifted", map[string]string{
			"dcfw.enable": "true", "dcfw.output.rule.1": "deny to db",
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newFakeResolver()
			r.set("db", time.Minute, "10.0.0.5")
			r.set("web", time.Minute, "10.0.0.7")
			e := newSandboxEnv(t, func(c *Config) { c.Resolver = r })
			e.startRun()
			app := e.create("app", tc.labels)
			at := time.Now()
			e.connect(app, at)
			e.sandbox(app, at.Add(time.Millisecond))
			before := namesTable(t, tc.labels, app.ID, nil)
			if tc.lockdown {
				before = e.ctrl.wantNameLockdown(app.ID).table.String()
			}
			eventually(t, "the sandbox path's table", func() bool { return e.tableIn(app.ns) == before })
			if n := len(r.asked()); n != 0 {
				t.Errorf("names resolved %d times before the process runs", n)
			}

			e.startProcess(app, app.ns)
			after := namesTable(t, tc.labels, app.ID, map[string][]string{"db": {"10.0.0.5"}, "web": {"10.0.0.7"}})
			eventually(t, "the names resolved by the PID path", func() bool { return e.tableIn(app.ns) == after })
			ws := e.fw.Writes()
			if len(ws) != 2 {
				t.Fatalf("%d writes, want the sandbox path's and the PID path's: %v", len(ws), ws)
			}
			if chains := ws[1].Chains; !tc.lockdown && len(chains) != 0 {
				t.Errorf("filling the sets wrote chains %v", chains)
			}
		})
	}
}
