package nft

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
)

// Kernel tests of the batch itself: atomicity, a rejected batch, large
// rulesets and their socket buffers.

// A batch the kernel rejects changes nothing, not even the parts of it
// that were valid.
func TestKernelRejectedBatchIsAtomic(t *testing.T) {
	h, c := newFirewallNS(t)
	want := webTable(t)
	mustApply(t, c, want)
	h.NFTScript(t, "chain inet dcfw output { policy accept; }")
	before := nftList(t, h)
	bad := clone(want)
	bad.Chains[0].Type = "route" // the kernel has no route chains on the input hook
	res, err := c.Apply(bad, false)
	if !errors.Is(err, ErrWriteRejected) || !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("Apply of an invalid table: err = %v, want ErrWriteRejected wrapping EOPNOTSUPP", err)
	}
	if res.Changed() || len(res.Differences) == 0 {
		t.Errorf("result of a rejected batch: %+v", res)
	}
	// The batch also set the output policy back to drop: not applied.
	if got := nftList(t, h); got != before {
		t.Errorf("a rejected batch changed the ruleset:\n--- before\n%s--- after\n%s", before, got)
	}
	if res := mustApply(t, c, want); !reflect.DeepEqual(res.Chains, []string{"input", "output"}) {
		t.Errorf("repair after the rejected batch: %+v", res)
	}
}

// Atomicity: while a client connects in a tight loop to a port that a
// reject rule closes (each attempt answered at once with a reset), 200
// different rulesets are applied. Each Apply flushes the input chain and
// re-adds its rules; were that not one atomic batch, the chain would be
// empty for a moment (policy accept) and a connection would get through.
func TestKernelAtomicity(t *testing.T) {
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":81")
	policy := func(i int) *Table {
		return mustCompile(t, enabled(labels.Allow, labels.Allow, []labels.Rule{
			{Action: labels.Reject, Proto: labels.TCP, To: labels.Endpoint{Ports: ports("81")}},
			{Action: labels.Deny, Proto: labels.TCP, To: labels.Endpoint{Ports: ports(strconv.Itoa(2000 + i))}},
		}, nil))
	}
	checkTraffic(t, tp, policy(0), []probe{tcp(tp.cli, srvIP+":81", testnet.Refused)})

	const maxProbes = 1_000_000 // bound; the loop normally stops when the applies are done
	stop := make(chan struct{})
	done := make(chan map[testnet.Outcome]int)
	go func() {
		seen := map[testnet.Outcome]int{}
		for n := 0; n < maxProbes; n++ {
			select {
			case <-stop:
				done <- seen
				return
			default:
			}
			seen[tp.cli.DialTCP(srvIP+":81", probeTimeout)]++
		}
		<-stop
		done <- seen
	}()
	start := time.Now()
	for i := 1; i <= 200; i++ {
		res, err := tp.conn.Apply(policy(i), false)
		if err != nil || !reflect.DeepEqual(res.Chains, []string{"input", "output"}) {
			close(stop)
			<-done
			t.Fatalf("Apply %d: %+v, %v", i, res, err)
		}
	}
	elapsed := time.Since(start)
	close(stop)
	seen := <-done
	t.Logf("200 applies in %v; connection attempts meanwhile: %v", elapsed, seen)
	if seen[testnet.Connected] > 0 {
		t.Errorf("%d connections to the rejected port got through", seen[testnet.Connected])
	}
	if seen[testnet.Refused] == 0 {
		t.Errorf("no connection attempt was refused during the applies")
	}
}

// Large rulesets: more than 1,000 kernel rules apply in one batch (the
// socket buffers are sized for it), read back equal, and are idempotent.
func TestKernelLargeRuleset(t *testing.T) {
	h, c := newFirewallNS(t)
	tbl := largeTable(t, 5) // 5 × 208 + built-ins
	in, out := tbl.RuleCount()
	if in < 1000 {
		t.Fatalf("only %d rules", in)
	}
	res := mustApply(t, c, tbl)
	if !res.Created || res.Writes < in {
		t.Fatalf("Apply: %+v", res)
	}
	live := mustRead(t, c)
	if got, _ := live.RuleCount(); got != in {
		t.Errorf("live input has %d rules, want %d", got, in)
	}
	if live.String() != resolved(t, c, tbl).String() {
		t.Errorf("live table differs from the desired one")
	}
	if res := mustApply(t, c, tbl); res.Changed() {
		t.Errorf("second Apply: %+v", res)
	}
	if n := strings.Count(nftList(t, h), "\n"); n < in {
		t.Errorf("nft lists %d lines", n)
	}
	// Rewriting the big chain (flush + 1,000 rules) works too.
	tbl.Chains[0].Rules[len(tbl.Chains[0].Rules)-2].Comment = "changed"
	// Both filter chains, with a new conntrack mark (conntrack.go).
	if res := mustApply(t, c, tbl); res.Writes != 2+in+out {
		t.Errorf("rewrite: %+v", res)
	}
}

// Lost replies (the receive buffer starved on purpose) do not turn a
// committed batch into an error: Apply reads the table back.
func TestKernelLostRepliesVerified(t *testing.T) {
	_, c := newFirewallNS(t)
	orig := batchBuffers
	t.Cleanup(func() { batchBuffers = orig })
	batchBuffers = func(b, m int) (int, int) { s, _ := orig(b, m); return s, 0 }
	tbl := largeTable(t, 5)
	res, err := c.Apply(tbl, false)
	if err != nil || !res.Created {
		t.Fatalf("Apply with a starved receive buffer: %+v, %v", res, err)
	}
	if res := mustApply(t, c, tbl); res.Changed() {
		t.Errorf("table not as desired: %+v", res)
	}
}

// largeTable compiles an input chain of n label rules of 16 addresses × 13
// ports (208 kernel rules each).
func largeTable(t testing.TB, n int) *Table {
	var rules []labels.Rule
	for i := range n {
		var addrs, ps []string
		for a := range 16 {
			addrs = append(addrs, "10."+strconv.Itoa(i)+"."+strconv.Itoa(a)+".0/24")
		}
		for p := range 13 {
			ps = append(ps, strconv.Itoa(1000+p*10))
		}
		rules = append(rules, labels.Rule{Action: labels.Allow, Proto: labels.TCP, Family: labels.IPv4,
			From: labels.Endpoint{Addrs: pfx(addrs...)}, To: labels.Endpoint{Ports: ports(ps...)}, Comment: "bulk"})
	}
	tbl, err := Compile(enabled(labels.Deny, labels.Allow, rules, nil), testID)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}
