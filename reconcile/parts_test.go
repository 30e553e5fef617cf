package reconcile

import (
	"slices"
	"testing"
	"time"

	"github.com/dcfw/dcfw/engine"
)

func TestSharingNamespace(t *testing.T) {
	all := []engine.Container{
		{ID: "aaaaaaaaaaaa1111", Names: []string{"a"}, NetworkMode: "default"},
		{ID: "bbbbbbbbbbbb2222", Names: []string{"b"}, NetworkMode: "container:aaaaaaaaaaaa1111"},
		{ID: "cccccccccccc3333", Names: []string{"c"}, NetworkMode: "container:b"}, // by name, chained
		{ID: "dddddddddddd4444", Names: []string{"d"}, NetworkMode: "bridge"},
		{ID: "eeeeeeeeeeee5555", Names: []string{"e"}, NetworkMode: "container:ffffffffffff6666"}, // joined a dead one
	}
	tests := []struct {
		targets []string
		want    []string
	}{
		{[]string{"aaaaaaaaaaaa1111"}, []string{"a", "b", "c"}},
		{[]string{"cccccccccccc3333"}, []string{"a", "b", "c"}},
		{[]string{"dddddddddddd4444"}, []string{"d"}},
		{[]string{"ffffffffffff6666"}, []string{"e"}}, // the died container is not listed
		{[]string{"dddddddddddd4444", "bbbbbbbbbbbb2222"}, []string{"a", "b", "c", "d"}},
		{[]string{"0000"}, nil},
	}
	for _, tt := range tests {
		targets := map[string]bool{}
		for _, id := range tt.targets {
			targets[id] = true
		}
		var got []string
		for _, c := range sharingNamespace(all, targets) {
			got = append(got, c.Name())
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("sharingNamespace(%v) = %v, want %v", tt.targets, got, tt.want)
		}
	}
}

func TestNamespaceOwner(t *testing.T) {
	a := engine.Container{ID: "aaaaaaaaaaaa1111", Names: []string{"a"}, NetworkMode: "default"}
	b := engine.Container{ID: "bbbbbbbbbbbb2222", Names: []string{"b"}, NetworkMode: "container:aaaaaaaaaaaa1111"}
	c := engine.Container{ID: "cccccccccccc3333", Names: []string{"c"}, NetworkMode: "container:b"}
	orphan := engine.Container{ID: "eeeeeeeeeeee5555", Names: []string{"e"}, NetworkMode: "container:gone"}
	all := []engine.Container{a, b, c, orphan}
	group := func(cs ...engine.Container) *nsGroup {
		g := &nsGroup{}
		for _, x := range cs {
			g.members = append(g.members, member{ctr: x})
		}
		return g
	}
	tests := []struct {
		name string
		g    *nsGroup
		want string
	}{
		{"owner is a member", group(b, a), "a"},
		{"owner unmanaged", group(b), "a"},
		{"chained through a name", group(c), "a"},
		{"owner not running", group(orphan), "e"},
	}
	for _, tt := range tests {
		if got := namespaceOwner(tt.g, all).Name(); got != tt.want {
			t.Errorf("%s: owner = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestErrorLimiter(t *testing.T) {
	l := newErrorLimiter(10 * time.Minute)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		subject, msg string
		at           time.Duration
		want         bool
	}{
		{"x", "boom", 0, true},
		{"x", "boom", time.Minute, false},
		{"y", "boom", time.Minute, true}, // another subject
		{"x", "bang", 2 * time.Minute, true},
		{"x", "bang", 11 * time.Minute, false}, // 9 minutes after it was logged
		{"x", "bang", 12 * time.Minute, true},
	}
	for i, s := range steps {
		if got := l.allow(s.subject, s.msg, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d (%s %q at %s): allow = %v, want %v", i, s.subject, s.msg, s.at, got, s.want)
		}
	}
	l.clear("x")
	if !l.allow("x", "bang", t0.Add(13*time.Minute)) {
		t.Error("a cleared error was not logged again")
	}
	// A full cycle that does not see y forgets it.
	l.startCycle()
	l.allow("x", "bang", t0.Add(14*time.Minute))
	l.endCycle()
	if !l.allow("y", "boom", t0.Add(15*time.Minute)) {
		t.Error("an error that went away and came back was not logged")
	}
	l.forgetContainer("abc")
	l.allow("labels:abc", "m", t0)
	l.allow("open:abc", "m", t0)
	l.forgetContainer("abc")
	if !l.allow("labels:abc", "m", t0) || !l.allow("open:abc", "m", t0) {
		t.Error("forgetContainer kept subjects of the container")
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 250 * time.Millisecond, Max: 10 * time.Second}
	var got []time.Duration
	d := time.Duration(0)
	for range 8 {
		d = b.next(d)
		got = append(got, d)
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("backoff = %v, want %v", got, want)
	}
}

func TestScope(t *testing.T) {
	tests := []struct {
		sel    string
		labels map[string]string
		want   bool
	}{
		{"", nil, true},
		{"project", map[string]string{"project": "x"}, true},
		{"project", map[string]string{"other": "x"}, false},
		{"project=shop", map[string]string{"project": "shop"}, true},
		{"project=shop", map[string]string{"project": "blog"}, false},
		{"project=", map[string]string{"project": ""}, true},
		{"project=", map[string]string{"project": "x"}, false},
	}
	for _, tt := range tests {
		s, err := ParseScope(tt.sel)
		if err != nil {
			t.Fatalf("ParseScope(%q): %v", tt.sel, err)
		}
		if got := s.Includes(tt.labels); got != tt.want {
			t.Errorf("%q includes %v = %v, want %v", tt.sel, tt.labels, got, tt.want)
		}
	}
	if _, err := ParseScope("=x"); err == nil {
		t.Error(`ParseScope("=x") succeeded`)
	}
}
