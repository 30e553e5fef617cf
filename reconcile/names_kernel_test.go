package reconcile

import (
	"context"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine/enginetest"
	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/internal/testpeer"
	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
)

// Kernel test of names through the whole controller: the real resolver
// (NSResolver: resolv.conf, sockets made in the namespace), a DNS server
// inside a real namespace, and the real firewall (NFTFirewall).

// hostNamespaces opens one real namespace for one PID.
type hostNamespaces struct {
	pid  int
	host *testnet.Host
}

type borrowedNS struct{ h *testnet.Host }

func (n borrowedNS) ID() netnsutil.ID { return n.h.ID() }
func (n borrowedNS) Fd() int          { return n.h.Fd() }
func (n borrowedNS) Close() error     { return nil } // the test's namespace, closed by testnet

func (h hostNamespaces) OpenPID(pid int) (Namespace, error) {
	if pid != h.pid {
		return nil, netnsutil.ErrNotFound
	}
	return borrowedNS{h.host}, nil
}

func (h hostNamespaces) OpenSandbox(string) (Namespace, error) { return nil, netnsutil.ErrNotFound }

func (h hostNamespaces) HostID() (netnsutil.ID, error) { return hostNS, nil }

// recordingFirewall is NFTFirewall that keeps each Apply's result.
type recordingFirewall struct {
	NFTFirewall
	mu      sync.Mutex
	results []nft.Result
}

func (f *recordingFirewall) Apply(ns Namespace, desired *nft.Table, dryRun bool, known nft.Generation) (nft.Result, error) {
	res, err := f.NFTFirewall.Apply(ns, desired, dryRun, known)
	f.mu.Lock()
	f.results = append(f.results, res)
	f.mu.Unlock()
	return res, err
}

func TestKernelNamesOnlySetsChange(t *testing.T) {
	h := testnet.NewNS(t, "names")
	answers := filepath.Join(t.TempDir(), "answers")
	set := func(addrs ...string) {
		t.Helper()
		a := testpeer.DNSAnswer{TTL: 5 * time.Second}
		for _, s := range addrs {
			a.Addrs = append(a.Addrs, netip.MustParseAddr(s))
		}
		if err := testpeer.SetDNSAnswer(answers, "db", a); err != nil {
			t.Fatal(err)
		}
	}
	set("10.0.0.5", "fd00::5")
	var srv *testpeer.DNS
	if err := h.Do(func() (err error) {
		srv, err = testpeer.ListenDNS(53, answers, io.Discard) // on every address of the namespace, 127.0.0.1 included
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go srv.Serve(ctx)

	eng := enginetest.New()
	lbls := map[string]string{
		"dcfw.enable":        "true",
		"dcfw.output.policy": "deny",
		"dcfw.output.rule.1": "allow proto tcp to db port 5432",
	}
	eng.Put(enginetest.Container{ID: containerID("app"), Name: "app", Labels: lbls, PID: 4242, Running: true,
		Networks: map[string][]netip.Addr{"shop": {netip.MustParseAddr("10.0.0.2")}}})
	clock := &testClock{t: time.Now()}
	fw := &recordingFirewall{}
	ctrl, err := New(Config{Engine: eng, Namespaces: hostNamespaces{pid: 4242, host: h}, Firewall: fw,
		Log: zap.NewNop(), Now: clock.Now, Resolver: NSResolver{Embedded: netip.MustParseAddrPort("127.0.0.1:53")}})
	if err != nil {
		t.Fatal(err)
	}
	cycle := func() {
		t.Helper()
		if st, err := ctrl.Once(context.Background()); err != nil || st.Errors != 0 || st.Managed != 1 {
			t.Fatalf("cycle: %+v, %v", st, err)
		}
	}
	conn, err := nft.Dial(h.Fd())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	elements := func(set string) []netip.Addr {
		t.Helper()
		live, err := conn.Read()
		if err != nil {
			t.Fatal(err)
		}
		if s := live.Set(set); s != nil {
			return s.Elements
		}
		t.Fatalf("no set %s in the live table", set)
		return nil
	}

	cycle()
	if got := elements("ip_db"); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("10.0.0.5")}) {
		t.Fatalf("ip_db holds %v, want the DNS server's answer", got)
	}
	if got := elements("ip6_db"); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("fd00::5")}) {
		t.Fatalf("ip6_db holds %v, want the DNS server's answer", got)
	}
	before, err := conn.Read()
	if err != nil {
		t.Fatal(err)
	}

	set("10.0.0.6") // the answer changes; the old addresses stay their retention
	clock.Advance(time.Minute)
	cycle()
	cycle() // the first cycle adds, the next finds the old ones expired
	clock.Advance(time.Minute)
	cycle()
	if got := elements("ip_db"); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("10.0.0.6")}) {
		t.Fatalf("ip_db holds %v after the change, want 10.0.0.6", got)
	}
	if got := elements("ip6_db"); len(got) != 0 {
		t.Fatalf("ip6_db holds %v after the change, want nothing", got)
	}
	after, err := conn.Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{nft.InputChain, nft.OutputChain} {
		b, a := before.Chain(name), after.Chain(name)
		if len(b.Rules) != len(a.Rules) {
			t.Fatalf("chain %s: %d rules before, %d after", name, len(b.Rules), len(a.Rules))
		}
		for i := range b.Rules {
			if b.Rules[i].Handle != a.Rules[i].Handle || b.Rules[i].CtMark != a.Rules[i].CtMark {
				t.Errorf("chain %s rule %d was rewritten (handle %d → %d, mark %#x → %#x)", name, i,
					b.Rules[i].Handle, a.Rules[i].Handle, b.Rules[i].CtMark, a.Rules[i].CtMark)
			}
		}
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	var setWrites int
	for _, r := range fw.results[1:] {
		if len(r.Chains) != 0 || r.Created {
			t.Errorf("an address change wrote chains %v (created %v)", r.Chains, r.Created)
		}
		if len(r.Sets) > 0 {
			setWrites++
		}
	}
	if setWrites == 0 {
		t.Error("no cycle reported a set change")
	}
}
