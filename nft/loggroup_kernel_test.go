package nft

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nflog"
)

// A table whose log rules go to an NFLOG group loads, reads back equal (a
// second Apply writes nothing), and its blocked packets arrive as records
// whose prefixes LogToGroup's map resolves: the policy's and a `log`
// rule's. The host's nf_log_all_netns plays no part and stays as it was.
func TestKernelLogToGroupRecords(t *testing.T) {
	t.Parallel()
	sysctlBefore, err := os.ReadFile("/proc/sys/net/netfilter/nf_log_all_netns")
	if err != nil {
		t.Fatal(err)
	}
	tp := newTopo(t)
	tp.srv.ListenTCP(t, ":80")
	tp.srv.ListenTCP(t, ":81")
	tbl := mustCompile(t, enabled(labels.Deny, labels.Allow, []labels.Rule{
		{Label: "dcfw.input.rule.5", Action: labels.Deny, Log: true, Proto: labels.TCP,
			To: labels.Endpoint{Ports: ports("81")}, Comment: "no 81"},
	}, nil))
	rules := tbl.LogToGroup(testLogGroup)

	rec, err := nflog.Dial(tp.srv.Fd(), nflog.Config{Group: testLogGroup})
	if err != nil {
		t.Fatalf("nflog.Dial: %v", err)
	}
	defer rec.Close()

	checkTraffic(t, tp, tbl, []probe{
		tcp(tp.cli, srvIP+":80", testnet.TimedOut), // the policy
		tcp(tp.cli, srvIP+":81", testnet.TimedOut), // rule 5
	})
	if res := mustApply(t, tp.conn, tbl); res.Writes != 0 {
		t.Errorf("second Apply of the same table wrote: %+v", res)
	}

	// One SYN (and maybe its retransmission after 1 s) per probe.
	got := map[string]int{}
	deadline := time.Now().Add(2 * time.Second)
	for {
		rec.SetReadDeadline(deadline)
		recs, err := rec.Receive()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		for _, r := range recs {
			p, err := nflog.DecodePacket(r.Payload)
			if err != nil {
				t.Fatalf("DecodePacket: %v", err)
			}
			if p.Src.String() != cliIP || p.Dst.String() != srvIP {
				t.Errorf("record %q of packet %+v: not cli to srv", r.Prefix, p)
			}
			ref, ok := rules[r.Prefix]
			if !ok {
				t.Errorf("record prefix %q not in %v", r.Prefix, rules)
				continue
			}
			switch {
			case p.DstPort == 80 && !(ref.Policy && ref.Label == "dcfw.input.policy"),
				p.DstPort == 81 && !(ref.Label == "dcfw.input.rule.5" && ref.Comment == "no 81" && ref.Action == labels.Deny):
				t.Errorf("packet to port %d resolved to %+v", p.DstPort, ref)
			}
			got[r.Prefix]++
		}
		deadline = time.Now().Add(300 * time.Millisecond)
	}
	for _, p := range []string{"dcfw.input.policy", "dcfw.input.rule.5"} {
		if n := got[p]; n < 1 || n > 2 {
			t.Errorf("%d records with prefix %s, want 1 (or 2 with the SYN's retransmission)", n, p)
		}
	}
	if sysctlAfter, _ := os.ReadFile("/proc/sys/net/netfilter/nf_log_all_netns"); string(sysctlAfter) != string(sysctlBefore) {
		t.Errorf("nf_log_all_netns changed: %q -> %q", sysctlBefore, sysctlAfter)
	}
}
