package reconcile

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/engine/enginetest"
	"github.com/dcfw/dcfw/names"
	"go.uber.org/zap/zapcore"
)

// TestNSResolverConfig: the resolver is the one the engine gave the
// container, never the container's own resolv.conf (which it may rewrite
// to name a server of its own on its loopback).
func TestNSResolverConfig(t *testing.T) {
	write := func(t *testing.T, dir, rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		embedded bool
		dns      []string
		files    map[string]string // under ProcDir
		want     []string
		wantErr  bool
	}{
		{name: "user network: embedded DNS", embedded: true,
			files: map[string]string{"1/root/etc/resolv.conf": "nameserver 192.0.2.53\n", "4242/root/etc/resolv.conf": "nameserver 192.0.2.66\n"},
			want:  []string{"127.0.0.11:53"}},
		{name: "default bridge: the host's servers", files: map[string]string{"1/root/etc/resolv.conf": "nameserver 192.0.2.53\nnameserver 2001:db8::53\n"},
			want: []string{"192.0.2.53:53", "[2001:db8::53]:53"}},
		{name: "default bridge: loopback servers left out", files: map[string]string{"1/root/etc/resolv.conf": "nameserver 127.0.0.1\nnameserver 192.0.2.53\n"},
			want: []string{"192.0.2.53:53"}},
		{name: "default bridge: a local stub's upstream servers", files: map[string]string{
			"1/root/etc/resolv.conf":                 "nameserver 127.0.0.53\n",
			"1/root/run/systemd/resolve/resolv.conf": "nameserver 192.0.2.54\n"},
			want: []string{"192.0.2.54:53"}},
		{name: "default bridge: only loopback servers: none", files: map[string]string{"1/root/etc/resolv.conf": "nameserver 127.0.0.53\n"},
			wantErr: true},
		{name: "default bridge: no host resolv.conf: none", wantErr: true},
		{name: "default bridge: the container's --dns", dns: []string{"127.0.0.1", "198.51.100.53"},
			files: map[string]string{"1/root/etc/resolv.conf": "nameserver 192.0.2.53\n"},
			want:  []string{"198.51.100.53:53"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proc := t.TempDir()
			for rel, content := range tt.files {
				write(t, proc, rel, content)
			}
			var dns []netip.Addr
			for _, a := range tt.dns {
				dns = append(dns, netip.MustParseAddr(a))
			}
			conf, err := NSResolver{ProcDir: proc}.config(NameQuery{Embedded: tt.embedded, DNS: dns})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("config = %v, want an error", conf.Servers)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range conf.Servers {
				got = append(got, s.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("servers = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNSResolverNoServerFailsEveryName: without a resolver every name
// fails with ErrNoNameserver (and so stands for no address).
func TestNSResolverNoServerFailsEveryName(t *testing.T) {
	r := NSResolver{ProcDir: t.TempDir()}
	res := r.Resolve(t.Context(), NameQuery{Names: []string{"db", "api.example.com"}})
	if len(res) != 2 {
		t.Fatalf("%d results, want 2", len(res))
	}
	for _, x := range res {
		if !errors.Is(x.Err, names.ErrNoNameserver) {
			t.Errorf("%s: err = %v, want ErrNoNameserver", x.Name, x.Err)
		}
	}
}

// TestNameLockdownAsksOnlyTheContainersNameservers: a container given
// --dns, locked down for a deny name that does not resolve, may still ask
// those servers (the engine's DNS forwards to them from inside its
// namespace), and no other.
func TestNameLockdownAsksOnlyTheContainersNameservers(t *testing.T) {
	e, r := newNamesEnv(t)
	r.fail("nowhere.example", names.ErrNotFound)
	own := netip.MustParseAddr("198.51.100.53")
	c := e.start("app", map[string]string{"dcfw.enable": "true", "dcfw.output.rule.1": "deny to nowhere.example"},
		func(_ *testEnv, c *enginetest.Container) { c.DNS = []netip.Addr{own} })
	e.cycle()
	got := e.table(c)
	if !strings.Contains(got, "ip daddr 198.51.100.53 udp dport 53") || !strings.Contains(got, "ip daddr 198.51.100.53 tcp dport 53") {
		t.Errorf("the names lockdown does not let DNS to the container's own nameserver out:\n%s", got)
	}
	if strings.Contains(got, fakeUpstream.String()) {
		t.Errorf("the names lockdown lets DNS to the host's nameserver out, though the container has its own:\n%s", got)
	}
	r.mu.Lock()
	q := slices.Clone(r.queries)
	r.mu.Unlock()
	if len(q) == 0 || !slices.Equal(q[len(q)-1].DNS, []netip.Addr{own}) {
		t.Errorf("lookups were not told the container's nameservers: %+v", q)
	}
}

// TestNamesNetRawWarned: a container whose rules use names and that keeps
// NET_RAW is warned about once (it could forge dcfw's answers); one that
// dropped it, or uses no names, is not.
func TestNamesNetRawWarned(t *testing.T) {
	const msg = "the container's rules use names and it keeps CAP_NET_RAW: it can forge the answers to dcfw's lookups in its namespace, and so choose the addresses of its names"
	e, r := newNamesEnv(t)
	r.set("db", time.Minute, "10.0.0.5")
	uses := map[string]string{"dcfw.enable": "true", "dcfw.output.policy": "deny", "dcfw.output.rule.1": "allow to db"}
	plain := map[string]string{"dcfw.enable": "true", "dcfw.output.policy": "deny", "dcfw.output.rule.1": "allow to 10.0.0.5"}
	e.start("keeps", uses)
	e.start("dropped", uses, func(_ *testEnv, c *enginetest.Container) { c.CapDrop = []string{"NET_RAW"} })
	e.start("plain", plain)
	e.cycle()
	e.cycle()
	got := e.entries(zapcore.WarnLevel, msg)
	if len(got) != 1 || got[0].ContextMap()["container"] != "keeps" {
		t.Fatalf("warnings = %+v, want one, for keeps", got)
	}
}

// TestStartedContainerBeforeOtherNames: a start event re-resolves the names
// of every container that uses names (the started one may hold them), but
// only after the started container has its rules: a slow resolver of
// another namespace must not hold them up.
func TestStartedContainerBeforeOtherNames(t *testing.T) {
	e, r := newNamesEnv(t)
	r.set("db", time.Minute, "10.0.0.5")
	user := e.start("user", map[string]string{"dcfw.enable": "true", "dcfw.output.policy": "deny", "dcfw.output.rule.1": "allow to db"})
	e.cycle()
	newcomer := e.start("newcomer", map[string]string{"dcfw.enable": "true", "dcfw.output.policy": "deny"})
	var before []string
	r.onResolve = func(q NameQuery) { before = append(before, e.table(newcomer)) }
	e.events(engine.Event{Kind: engine.EventStart, ContainerID: newcomer.ID, Time: time.Now()})
	r.onResolve = nil
	if len(before) != 1 {
		t.Fatalf("the start event resolved %d namespaces' names, want 1 (user's)", len(before))
	}
	if before[0] == "" {
		t.Errorf("user's names were resolved before the started container had its rules")
	}
	if e.table(user) == "" {
		t.Errorf("user has no table")
	}
}

// TestDenyNameWithAFamilyUnanswered: a deny name whose AAAA query timed
// out while A answered stands for no known IPv6 address: the rule would
// let IPv6 to it through, so the container is locked down, until AAAA
// answers; once the cache holds an IPv6 address of the name, a later
// timeout changes nothing. An allow name just allows what is known.
func TestDenyNameWithAFamilyUnanswered(t *testing.T) {
	e, r := newNamesEnv(t)
	r.set("evil.example", time.Hour, "192.0.2.9", "2001:db8::9")
	r.unanswered6 = map[string]bool{"evil.example": true}
	deny := e.start("deny", map[string]string{"dcfw.enable": "true", "dcfw.output.rule.1": "deny to evil.example"})
	allow := e.start("allow", map[string]string{"dcfw.enable": "true", "dcfw.output.policy": "deny", "dcfw.output.rule.1": "allow to evil.example"})
	e.cycle()
	if got, want := e.table(deny), e.ctrl.wantNameLockdown(deny.ID).table.String(); got != want {
		t.Errorf("deny name with IPv6 unanswered:\n%s\nwant the names lockdown", got)
	}
	if got := e.entries(zapcore.ErrorLevel, "a deny or reject rule's name does not resolve"); len(got) != 1 ||
		!strings.Contains(fmt.Sprint(got[0].ContextMap()["states"]), "AAAA unanswered") {
		t.Errorf("lockdown lines = %+v, want one naming the unanswered AAAA", got)
	}
	if got := e.table(allow); !strings.Contains(got, "192.0.2.9") || strings.Contains(got, "2001:db8::9") {
		t.Errorf("allow name with IPv6 unanswered: want only the IPv4 address in its sets:\n%s", got)
	}
	r.mu.Lock()
	r.unanswered6 = nil
	r.mu.Unlock()
	e.cycle()
	if got := e.table(deny); !strings.Contains(got, "2001:db8::9") || !strings.Contains(got, "192.0.2.9") {
		t.Errorf("deny name answered on both families: want its sets to hold both:\n%s", got)
	}
	r.mu.Lock()
	r.unanswered6 = map[string]bool{"evil.example": true}
	r.mu.Unlock()
	e.cycle()
	if got := e.table(deny); !strings.Contains(got, "2001:db8::9") {
		t.Errorf("a later AAAA timeout with the IPv6 address retained locked down or dropped it:\n%s", got)
	}
}
