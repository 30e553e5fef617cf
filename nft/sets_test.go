package nft

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/dcfw/dcfw/labels"
)

// namesPolicy: output deny, `allow proto tcp to db port 5432` and
// `deny to blocked.example`, input `allow proto tcp from web to any port 80`.
func namesPolicy() labels.Policy {
	return enabled(labels.Deny, labels.Deny,
		[]labels.Rule{{Action: labels.Allow, Proto: labels.TCP,
			From: labels.Endpoint{Names: []string{"web"}}, To: labels.Endpoint{Ports: ports("80")}}},
		[]labels.Rule{
			{Action: labels.Allow, Proto: labels.TCP, To: labels.Endpoint{Names: []string{"db"}, Ports: ports("5432")}},
			{Action: labels.Deny, Proto: labels.AnyProtocol, To: labels.Endpoint{Names: []string{"blocked.example"}}},
		})
}

func mustCompileNames(t *testing.T, p labels.Policy, addrs NameAddrs) *Table {
	t.Helper()
	tbl, err := CompileNames(p, testID, addrs)
	if err != nil {
		t.Fatalf("CompileNames: %v", err)
	}
	return tbl
}

// TestCompileNamesChainsIndependentOfAddresses: the chains of a compiled
// table depend only on the policy, never on the addresses of its names;
// the sets hold the addresses, per family.
func TestCompileNamesChainsIndependentOfAddresses(t *testing.T) {
	chains := func(tbl *Table) string {
		t := *tbl
		t.Sets = nil
		return t.String()
	}
	empty := mustCompileNames(t, namesPolicy(), nil)
	full := mustCompileNames(t, namesPolicy(), NameAddrs{
		"db":  addrs("10.0.0.2", "fd00::2", "::ffff:10.0.0.3"),
		"web": addrs("10.0.0.9"),
	})
	if chains(empty) != chains(full) {
		t.Fatalf("chains depend on addresses:\n%s\n---\n%s", chains(empty), chains(full))
	}
	var names []string
	for _, s := range empty.Sets {
		names = append(names, s.Name)
		if len(s.Elements) != 0 {
			t.Errorf("set %s without addresses has elements %v", s.Name, s.Elements)
		}
	}
	want := []string{"ip6_blocked.example", "ip6_db", "ip6_web", "ip_blocked.example", "ip_db", "ip_web"}
	if !slices.Equal(names, want) {
		t.Fatalf("sets %v, want %v", names, want)
	}
	for set, want := range map[string][]netip.Addr{
		"ip_db":   addrs("10.0.0.2", "10.0.0.3"), // the mapped address counts as IPv4
		"ip6_db":  addrs("fd00::2"),
		"ip_web":  addrs("10.0.0.9"),
		"ip6_web": nil,
	} {
		if got := full.Set(set).Elements; !slices.Equal(got, want) {
			t.Errorf("set %s: %v, want %v", set, got, want)
		}
	}
}

// TestNameSetNames: set names per family never collide, and a name too
// long for the kernel's limit still gets a unique, short enough name.
func TestNameSetNames(t *testing.T) {
	long1 := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)
	long2 := long1[:len(long1)-1] + "e"
	for _, tc := range []struct {
		name string
		fam  Family
		want string
	}{
		{"db", IPv4, "ip_db"},
		{"db", IPv6, "ip6_db"},
		{"api.example.com", IPv4, "ip_api.example.com"},
	} {
		if got := NameSet(tc.name, tc.fam); got != tc.want {
			t.Errorf("NameSet(%q, %v) = %q, want %q", tc.name, tc.fam, got, tc.want)
		}
	}
	a, b := NameSet(long1, IPv6), NameSet(long2, IPv6)
	if len(a) > maxSetNameLen || len(b) > maxSetNameLen || a == b {
		t.Fatalf("long names: %q (%d), %q (%d)", a, len(a), b, len(b))
	}
}

// TestMemorySetElementsOnly: when only a name's addresses change, Apply
// writes set elements and nothing else: no chain, the same conntrack mark
// and rule handles, and Result.Sets says what was added and removed.
func TestMemorySetElementsOnly(t *testing.T) {
	var m Memory
	first := mustCompileNames(t, namesPolicy(), NameAddrs{"db": addrs("10.0.0.2", "10.0.0.3")})
	if _, err := m.Apply(first, false); err != nil {
		t.Fatal(err)
	}
	before, _ := m.Read()
	second := mustCompileNames(t, namesPolicy(), NameAddrs{"db": addrs("10.0.0.3", "10.0.0.4", "fd00::4")})
	res, err := m.Apply(second, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Chains) != 0 || res.Created {
		t.Fatalf("chains written: %+v", res)
	}
	wantSets := []SetChange{
		{Set: "ip6_db", For: "db", Family: IPv6, Added: addrs("fd00::4")},
		{Set: "ip_db", For: "db", Family: IPv4, Added: addrs("10.0.0.4"), Removed: addrs("10.0.0.2")},
	}
	if !setChangesEqual(res.Sets, wantSets) {
		t.Fatalf("Result.Sets = %+v, want %+v", res.Sets, wantSets)
	}
	if res.Writes != 3 { // ip6_db add; ip_db delete and add
		t.Errorf("Writes = %d, want 3", res.Writes)
	}
	after, _ := m.Read()
	if after.Secret.Conn != before.Secret.Conn {
		t.Errorf("conntrack mark changed: live connections would be decided again")
	}
	for _, name := range []string{InputChain, OutputChain} {
		bh, ah := ruleHandles(before.Chain(name)), ruleHandles(after.Chain(name))
		if !slices.Equal(bh, ah) {
			t.Errorf("chain %s rewritten: handles %v, then %v", name, bh, ah)
		}
	}
	if got := after.Set("ip_db").Elements; !slices.Equal(got, addrs("10.0.0.3", "10.0.0.4")) {
		t.Errorf("live ip_db = %v", got)
	}
	if res, _ := m.Apply(second, false); res.Changed() {
		t.Errorf("third Apply wrote: %+v", res)
	}
}

func ruleHandles(c *Chain) []uint64 {
	var hs []uint64
	for _, r := range c.Rules {
		hs = append(hs, r.Handle)
	}
	return hs
}

func setChangesEqual(a, b []SetChange) bool {
	return slices.EqualFunc(a, b, func(x, y SetChange) bool {
		return x.Set == y.Set && x.For == y.For && x.Family == y.Family && slices.Equal(x.Added, y.Added) && slices.Equal(x.Removed, y.Removed)
	})
}

// TestDiffSets: what the set part of a plan does for each difference.
func TestDiffSets(t *testing.T) {
	set := func(name string, fam Family, as ...string) *Set {
		s := &Set{Name: name, Family: fam, Elements: addrs(as...)}
		return s
	}
	for _, tc := range []struct {
		name          string
		desired, live []*Set
		add, del      []string
		changes       []SetChange
		recreate      bool
	}{
		{name: "equal", desired: []*Set{set("ip_a", IPv4, "10.0.0.1")}, live: []*Set{set("ip_a", IPv4, "10.0.0.1")}},
		{name: "missing", desired: []*Set{set("ip_a", IPv4)}, add: []string{"ip_a"}},
		{name: "not wanted", live: []*Set{set("ip_x", IPv4)}, del: []string{"ip_x"}},
		{name: "elements", desired: []*Set{set("ip_a", IPv4, "10.0.0.1", "10.0.0.3")}, live: []*Set{set("ip_a", IPv4, "10.0.0.2", "10.0.0.3")},
			changes: []SetChange{{Set: "ip_a", Family: IPv4, Added: addrs("10.0.0.1"), Removed: addrs("10.0.0.2")}}},
		{name: "other type", desired: []*Set{set("ip_a", IPv4)}, live: []*Set{set("ip_a", IPv6)}, recreate: true},
		{name: "foreign", desired: []*Set{set("ip_a", IPv4)}, live: []*Set{{Name: "ip_a", Family: IPv4, foreign: "flags 0x1"}}, recreate: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, _, recreate := diffSets(&Table{Sets: tc.desired}, &Table{Sets: tc.live})
			names := func(ss []*Set) []string {
				var out []string
				for _, s := range ss {
					out = append(out, s.Name)
				}
				return out
			}
			if !slices.Equal(names(sp.addSets), tc.add) || !slices.Equal(names(sp.delSets), tc.del) ||
				!setChangesEqual(sp.changes, tc.changes) || recreate != tc.recreate {
				t.Fatalf("add %v del %v changes %+v recreate %v", names(sp.addSets), names(sp.delSets), sp.changes, recreate)
			}
		})
	}
}

// TestApplyRefusesMissingSet: a rule that looks up a set the table does
// not have is refused before anything is written.
func TestApplyRefusesMissingSet(t *testing.T) {
	tbl := mustCompileNames(t, namesPolicy(), nil)
	tbl.Sets = tbl.Sets[1:]
	var m Memory
	if _, err := m.Apply(tbl, false); err == nil || !strings.Contains(err.Error(), "looks up set") {
		t.Fatalf("Apply: %v", err)
	}
	if m.Batches != 0 {
		t.Fatalf("wrote %d batches", m.Batches)
	}
}

// TestNamesCountLikeAddresses: a name counts as one list element in the
// rule caps, twice in a rule for both families (one rule per family).
func TestNamesCountLikeAddresses(t *testing.T) {
	for _, tc := range []struct {
		rule labels.Rule
		want uint64
	}{
		{labels.Rule{Action: labels.Allow, Proto: labels.TCP, To: labels.Endpoint{Names: []string{"a", "b"}, Ports: ports("80")}}, 4},
		{labels.Rule{Action: labels.Allow, Proto: labels.TCP, Family: labels.IPv4,
			To: labels.Endpoint{Addrs: pfx("10.0.0.1"), Names: []string{"a", "b"}, Ports: ports("80")}}, 3},
		{labels.Rule{Action: labels.Allow, Proto: labels.AnyProtocol, From: labels.Endpoint{Names: []string{"a"}},
			To: labels.Endpoint{Names: []string{"b", "c"}}}, 4},
	} {
		got := kernelRules(tc.rule)
		ex, err := expand(OutputChain, 0, tc.rule, testID)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want || uint64(len(ex)) != got {
			t.Errorf("%s: kernelRules %d, expand %d, want %d", tc.rule, got, len(ex), tc.want)
		}
	}
}

// FuzzParseSet: set and element dumps of any content are read without
// panic; a set is either dcfw's shape (family known, elements of that
// family) or foreign.
func FuzzParseSet(f *testing.F) {
	f.Add([]byte{}, []byte{})
	f.Add([]byte("\x08\x00\x04\x00\x00\x00\x00\x07\x08\x00\x05\x00\x00\x00\x00\x04"),
		[]byte("\x14\x00\x03\x80\x10\x00\x01\x80\x0c\x00\x01\x80\x08\x00\x01\x00\x0a\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, set, elems []byte) {
		as, _ := parseAttrs(set)
		s, _ := parseSet(as)
		es, _ := parseAttrs(elems)
		parseSetElems(es, s)
		if s.Family != IPv4 && s.Family != IPv6 {
			t.Fatalf("family %d", s.Family)
		}
		if s.foreign == "" {
			for _, a := range s.Elements {
				if a.Is4() != (s.Family == IPv4) {
					t.Fatalf("element %v in a %v set", a, s.Family)
				}
			}
		}
		var b strings.Builder
		s.write(&b)
	})
}

// TestCompileRefusesNames: Compile, which has no addresses, refuses a
// policy with names instead of compiling rules that match nothing.
func TestCompileRefusesNames(t *testing.T) {
	_, err := Compile(namesPolicy(), testID)
	if !errors.Is(err, ErrInvalidPolicy) || !errors.Is(err, ErrNeedsAddresses) ||
		!strings.Contains(err.Error(), "blocked.example, db, web") {
		t.Fatalf("Compile: %v", err)
	}
}

// TestWithAddrsSharesChains: WithAddrs fills a copy's sets and leaves the
// compiled table, whose chains the copy shares, as it was.
func TestWithAddrsSharesChains(t *testing.T) {
	base := mustCompileNames(t, namesPolicy(), nil)
	filled := base.WithAddrs(NameAddrs{"db": addrs("10.0.0.2", "fd00::2")})
	if &filled.Chains[0] != &base.Chains[0] {
		t.Errorf("the copy does not share the compiled chains")
	}
	for _, s := range base.Sets {
		if len(s.Elements) != 0 {
			t.Errorf("WithAddrs filled the compiled table's set %s: %v", s.Name, s.Elements)
		}
	}
	got := map[string]int{}
	for _, s := range filled.Sets {
		got[s.Name] = len(s.Elements)
	}
	if got[NameSet("db", IPv4)] != 1 || got[NameSet("db", IPv6)] != 1 {
		t.Errorf("filled sets: %v, want one address in each of db's", got)
	}
}
