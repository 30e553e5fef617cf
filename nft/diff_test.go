package nft

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dcfw/dcfw/labels"
)

// clone deep-copies a table, so a test can alter a "live" copy.
func clone(t *Table) *Table { return copyTable(t) }

func webTable(t *testing.T) *Table {
	t.Helper()
	tbl, err := Compile(policyCases[1].policy, testID) // readme-webserver
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// TestDiff runs the planner on in-memory tables: the live table is the
// desired one with one change, and the plan must be the minimal one.
func TestDiff(t *testing.T) {
	want := webTable(t)
	nIn, nOut := want.RuleCount()
	const nStamp = (1 + 2) + (1 + 1) // the stamp and unstamp chains
	all := []string{"input", "output", "stamp", "unstamp"}
	extra := Rule{L4Proto: protoTCP, Dport: Range{22, 22}, Verdict: Accept}
	for _, c := range []struct {
		name   string
		tamper func(live *Table) *Table
		// expected plan
		create, deleteTable       bool
		del, add, policy, rewrite []string
		writes                    int
		diffs                     []string // each must be contained in one Differences line, in order
	}{
		{
			name:   "identical",
			tamper: func(l *Table) *Table { return l },
		},
		{
			name:   "table missing",
			tamper: func(*Table) *Table { return nil },
			create: true, add: all,
			writes: 1 + (1 + nIn) + (1 + nOut) + nStamp + 1, // + the netdev table
			diffs:  []string{"table missing", "netdev table missing"},
		},
		{
			name:        "table dormant",
			tamper:      func(l *Table) *Table { l.Flags = 1; return l },
			deleteTable: true, create: true, add: all,
			writes: 2 + (1 + nIn) + (1 + nOut) + nStamp,
			diffs:  []string{"table flags dormant, want none"},
		},
		{
			name:   "chain missing",
			tamper: func(l *Table) *Table { l.Chains = l.Chains[1:]; return l },
			add:    []string{"input"}, writes: 1 + nIn,
			diffs: []string{"chain input missing"},
		},
		{
			name: "foreign chain",
			tamper: func(l *Table) *Table {
				l.Chains = append(l.Chains, &Chain{Name: "sneaky", Rules: []Rule{extra}})
				return l
			},
			del: []string{"sneaky"}, writes: 2,
			diffs: []string{"chain sneaky: not made by dcfw (1 rule)"},
		},
		{
			name:   "wrong priority",
			tamper: func(l *Table) *Table { l.Chains[0].Priority = -10; return l },
			del:    []string{"input"}, add: []string{"input"}, writes: 2 + 1 + nIn,
			diffs: []string{"chain input: type filter hook input priority filter - 10, want type filter hook input priority filter"},
		},
		{
			name:   "wrong hook",
			tamper: func(l *Table) *Table { l.Chains[1].Hook = HookInput; return l },
			del:    []string{"output"}, add: []string{"output"}, writes: 2 + 1 + nOut,
			diffs: []string{"chain output: type filter hook input priority filter, want type filter hook output"},
		},
		{
			name:   "regular chain in place of a base chain",
			tamper: func(l *Table) *Table { l.Chains[0].Base = false; return l },
			del:    []string{"input"}, add: []string{"input"}, writes: 2 + 1 + nIn,
			diffs: []string{"chain input: regular chain, want type filter hook input"},
		},
		{
			name:   "policy only",
			tamper: func(l *Table) *Table { l.Chains[1].Policy = PolicyAccept; return l },
			policy: []string{"output"}, writes: 1,
			diffs: []string{"chain output: policy accept, want drop"},
		},
		{
			name: "rule added",
			tamper: func(l *Table) *Table {
				l.Chains[0].Rules = slices.Insert(l.Chains[0].Rules, 2, extra)
				return l
			},
			rewrite: []string{"input"}, writes: 1 + nIn,
			diffs: []string{"chain input: 1 extra rule at 3: `tcp dport 22 accept`"},
		},
		{
			name: "rule deleted",
			tamper: func(l *Table) *Table {
				l.Chains[1].Rules = slices.Delete(l.Chains[1].Rules, 9, 10)
				return l
			},
			rewrite: []string{"output"}, writes: 1 + nOut,
			diffs: []string{"chain output: 1 rule missing at 10: `ip daddr 192.168.150.6 tcp dport 3306 ct mark set $conn_mark accept"},
		},
		{
			name: "rule altered",
			tamper: func(l *Table) *Table {
				l.Chains[1].Rules[9].Dport = Range{3307, 3307}
				return l
			},
			rewrite: []string{"output"}, writes: 1 + nOut,
			diffs: []string{"chain output: rule 10 differs: live `ip daddr 192.168.150.6 tcp dport 3307 ct mark set $conn_mark accept", "want `ip daddr 192.168.150.6 tcp dport 3306 ct mark set $conn_mark accept"},
		},
		{
			name: "comment altered",
			tamper: func(l *Table) *Table {
				l.Chains[0].Rules[0].Comment = "hello"
				return l
			},
			rewrite: []string{"input"}, writes: 1 + nIn,
			diffs: []string{"chain input: rule 1 differs: live `iif \"lo\" accept comment \"hello\"`"},
		},
		{
			name: "rules reordered",
			tamper: func(l *Table) *Table {
				r := l.Chains[0].Rules
				r[4], r[5] = r[5], r[4]
				return l
			},
			rewrite: []string{"input"}, writes: 1 + nIn,
			diffs: []string{"chain input: rules 5-6 differ: live has 2"},
		},
		{
			name: "rule replaced by a foreign one",
			tamper: func(l *Table) *Table {
				l.Chains[0].Rules[2] = Rule{Comment: commentInvalid, live: &liveInfo{key: "Fx", foreign: []string{"ct", "bitwise", "cmp", "counter", "immediate"}}}
				return l
			},
			rewrite: []string{"input"}, writes: 1 + nIn,
			diffs: []string{"chain input: rule 3 differs: live `# not a dcfw rule: ct bitwise cmp counter immediate comment \"dcfw: invalid\"`"},
		},
		{
			name: "handles differ only",
			tamper: func(l *Table) *Table {
				for i := range l.Chains[0].Rules {
					l.Chains[0].Rules[i].Handle = uint64(100 + i)
				}
				return l
			},
		},
		{
			name: "everything at once",
			tamper: func(l *Table) *Table {
				l.Flags = 1
				l.Chains[0].Policy = PolicyAccept
				l.Chains[0].Rules = l.Chains[0].Rules[:3]
				l.Chains[1].Type = "route"
				return l
			},
			deleteTable: true, create: true, add: all,
			del:    []string{"output"}, // deleted with the table, not by itself
			writes: 2 + (1 + nIn) + (1 + nOut) + nStamp,
			diffs: []string{
				"table flags dormant",
				"chain input: policy accept, want drop",
				"chain input: 7 rules missing at 4: `ct state related ct status ! confirmed accept",
				"and 4 more",
				"chain output: type route hook output priority filter, want type filter",
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := diff(want, c.tamper(clone(want)))
			if p.createTable != c.create || p.deleteTable != c.deleteTable {
				t.Errorf("create %v deleteTable %v; want %v %v", p.createTable, p.deleteTable, c.create, c.deleteTable)
			}
			for _, x := range []struct {
				what      string
				got       []*Chain
				wantNames []string
			}{{"delete", p.delChains, c.del}, {"add", p.addChains, c.add}, {"policy", p.setPolicy, c.policy}, {"rewrite", p.rewrite, c.rewrite}} {
				if got := chainNames(x.got); !reflect.DeepEqual(got, x.wantNames) {
					t.Errorf("%s chains %q, want %q", x.what, got, x.wantNames)
				}
			}
			if p.writes() != c.writes {
				t.Errorf("writes %d, want %d", p.writes(), c.writes)
			}
			if p.empty() != (c.writes == 0) {
				t.Errorf("empty() = %v with %d writes", p.empty(), c.writes)
			}
			joined := strings.Join(p.differences, "\n")
			at := 0
			for _, d := range c.diffs {
				i := strings.Index(joined[at:], d)
				if i < 0 {
					t.Errorf("differences lack %q (in order):\n%s", d, joined)
					break
				}
				at += i + len(d)
			}
			if len(c.diffs) == 0 && len(p.differences) > 0 {
				t.Errorf("differences %q, want none", p.differences)
			}
		})
	}
}

func chainNames(cs []*Chain) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// TestDiffChangeTouchesBothFilterChains: each filter chain holds the
// other's rules mirrored for replies (conntrack.go), so a change of one
// direction's labels rewrites both filter chains, and nothing else.
func TestDiffChangeTouchesBothFilterChains(t *testing.T) {
	before := webTable(t)
	p := policyCases[1].policy
	p.Output.Rules = slices.Clone(p.Output.Rules)
	p.Output.Rules[0].To.Ports = ports("3307")
	after, err := Compile(p, testID)
	if err != nil {
		t.Fatal(err)
	}
	pl := diff(after, before)
	if got := pl.chains(); !reflect.DeepEqual(got, []string{"input", "output"}) || !pl.writesFilter() {
		t.Errorf("chains written %q, want [input output]", got)
	}
	// From deny to allow: the policy and the rules (the BLOCK log rule goes).
	p = policyCases[1].policy
	p.Input.Policy = labels.Allow
	after, err = Compile(p, testID)
	if err != nil {
		t.Fatal(err)
	}
	pl = diff(after, before)
	if !reflect.DeepEqual(chainNames(pl.setPolicy), []string{"input"}) || !reflect.DeepEqual(chainNames(pl.rewrite), []string{"input", "output"}) {
		t.Errorf("policy change: %+v", pl)
	}
}

func TestRuleDiffsMessages(t *testing.T) {
	r := func(port uint16) Rule { return Rule{L4Proto: protoTCP, Dport: Range{port, port}, Verdict: Accept} }
	var many []Rule
	for i := range 6 {
		many = append(many, r(uint16(100+i)))
	}
	for _, c := range []struct {
		name       string
		live, want []Rule
		msg        string
	}{
		{"same", many, many, ""},
		{"all missing", nil, many, "6 rules missing at 1: `tcp dport 100 accept`, `tcp dport 101 accept`, `tcp dport 102 accept`, and 3 more"},
		{"all extra", many, nil, "6 extra rules at 1:"},
		{"tail extra", append(slices.Clone(many), r(1)), many, "1 extra rule at 7: `tcp dport 1 accept`"},
		{"middle replaced by two", []Rule{many[0], r(7), r(8), many[2]}, many[:3], "rules 2-3 differ: live has 2 (`tcp dport 7 accept`, `tcp dport 8 accept`), want 1 (`tcp dport 101 accept`)"},
	} {
		got := strings.Join(ruleDiffs(c.live, c.want), "|")
		if got != c.msg && !(c.msg != "" && strings.HasPrefix(got, c.msg)) {
			t.Errorf("%s: %q, want %q", c.name, got, c.msg)
		}
	}
}
