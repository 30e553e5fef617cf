package droplog

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nflog"
	"github.com/dcfw/dcfw/nft"
)

var testRules = nft.LogRules{
	"dcfw.input.policy":   {Chain: nft.InputChain, Label: "dcfw.input.policy", Action: labels.Deny, Policy: true},
	"dcfw.input.rule.3":   {Chain: nft.InputChain, Label: "dcfw.input.rule.3", Comment: "ssh from office", Action: labels.Allow},
	"dcfw.output.rule.1":  {Chain: nft.OutputChain, Label: "dcfw.output.rule.1", Comment: "no mail", Action: labels.Reject},
	"dcfw.input.lockdown": {Chain: nft.InputChain, Action: labels.Deny, Policy: true, Lockdown: true},
}

var testContainer = Container{Name: "web", ID: "0123456789abcdef0123456789abcdef"}

// waitEntries waits (bounded) until the observer holds n entries.
func waitEntries(t *testing.T, logs *observer.ObservedLogs, n int) []observer.LoggedEntry {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for logs.Len() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	got := logs.All()
	if len(got) != n {
		t.Fatalf("%d log entries, want %d: %v", len(got), n, got)
	}
	return got
}

func startReader(t *testing.T, perMinute int) (*Reader, *fakeNamespace, *fakeClock, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	ns := newFakeNamespace()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r := newReader(ns, testContainer, testRules, zap.New(core), Config{PerMinute: perMinute, Now: clk.now})
	t.Cleanup(func() { r.Close() })
	return r, ns, clk, logs
}

func TestReaderLines(t *testing.T) {
	tests := []struct {
		name string
		rec  nflog.Record
		msg  string
		want map[string]any
	}{{
		name: "input policy drop",
		rec:  nflog.Record{Hook: nflog.HookInput, Prefix: "dcfw.input.policy", InDev: 2, Payload: payload(t, tcp4SYN)},
		msg:  msgBlocked,
		want: map[string]any{"container": "web", "id": "0123456789ab", "direction": "in", "verdict": "deny",
			"rule": "dcfw.input.policy", "proto": "tcp", "src": "10.99.71.2", "dst": "10.99.71.1",
			"sport": uint64(60026), "dport": uint64(81), "iface": "eth0"},
	}, {
		name: "log rule of an allow rule",
		rec:  nflog.Record{Hook: nflog.HookInput, Prefix: "dcfw.input.rule.3", InDev: 3, Payload: payload(t, udp6)},
		msg:  msgLogged,
		want: map[string]any{"container": "web", "id": "0123456789ab", "direction": "in", "verdict": "allow",
			"rule": "dcfw.input.rule.3", "comment": "ssh from office", "proto": "udp",
			"src": "fd00:99:71::2", "dst": "fd00:99:71::1", "sport": uint64(53932), "dport": uint64(82), "iface": "eth1"},
	}, {
		name: "output reject rule names the outgoing interface",
		rec:  nflog.Record{Hook: nflog.HookOutput, Prefix: "dcfw.output.rule.1", InDev: 3, OutDev: 2, Payload: payload(t, tcp4SYN)},
		msg:  msgBlocked,
		want: map[string]any{"container": "web", "id": "0123456789ab", "direction": "out", "verdict": "reject",
			"rule": "dcfw.output.rule.1", "comment": "no mail", "proto": "tcp", "src": "10.99.71.2", "dst": "10.99.71.1",
			"sport": uint64(60026), "dport": uint64(81), "iface": "eth0"},
	}, {
		name: "lockdown",
		rec:  nflog.Record{Hook: nflog.HookInput, Prefix: "dcfw.input.lockdown", InDev: 2, Payload: []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 8, 0}},
		msg:  msgBlocked,
		want: map[string]any{"container": "web", "id": "0123456789ab", "direction": "in", "verdict": "deny",
			"rule": "lockdown", "proto": "icmp", "src": "10.0.0.1", "dst": "10.0.0.2",
			"icmp_type": uint64(8), "icmp_code": uint64(0), "iface": "eth0"},
	}, {
		name: "unknown prefix shows itself",
		rec:  nflog.Record{Hook: nflog.HookOutput, Prefix: "dcfw.output.rule.9", OutDev: 7, Payload: payload(t, tcp4SYN)},
		msg:  msgBlocked,
		want: map[string]any{"container": "web", "id": "0123456789ab", "direction": "out", "verdict": "unknown",
			"rule": "dcfw.output.rule.9", "proto": "tcp", "src": "10.99.71.2", "dst": "10.99.71.1",
			"sport": uint64(60026), "dport": uint64(81), "iface": "#?"},
	}, {
		name: "a foreign prefix is escaped",
		rec:  nflog.Record{Hook: nflog.HookInput, Prefix: "x\n{\"forged\":1}\x1b[2J", InDev: 2, Payload: payload(t, tcp4SYN)},
		msg:  msgBlocked,
		want: map[string]any{"container": "web", "id": "0123456789ab", "direction": "in", "verdict": "unknown",
			"rule": `x\n{"forged":1}\x1b[2J`, "proto": "tcp", "src": "10.99.71.2", "dst": "10.99.71.1",
			"sport": uint64(60026), "dport": uint64(81), "iface": "eth0"},
	}, {
		name: "undecodable payload",
		rec:  nflog.Record{Hook: nflog.HookInput, Prefix: "dcfw.input.policy", InDev: 2, Payload: []byte{0x45}},
		msg:  msgBlocked,
		want: map[string]any{"container": "web", "id": "0123456789ab", "direction": "in", "verdict": "deny",
			"rule": "dcfw.input.policy", "iface": "eth0", "packet": "nflog: malformed: IPv4 header cut at 1 bytes"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ns, _, logs := startReader(t, 0)
			ns.send(t, tt.rec)
			e := waitEntries(t, logs, 1)[0]
			if e.Message != tt.msg || e.Level != zapcore.InfoLevel {
				t.Errorf("message %q at %v, want %q at info", e.Message, e.Level, tt.msg)
			}
			got := e.ContextMap()
			if len(got) != len(tt.want) {
				t.Errorf("fields %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if fmt.Sprint(got[k]) != fmt.Sprint(v) {
					t.Errorf("field %s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
}

// A flood of 50 blocked packets: the cap writes PerMinute lines, the
// summary the rest, per rule, once the minute is over; Blocked counts all.
func TestReaderCapAndSummary(t *testing.T) {
	r, ns, clk, logs := startReader(t, 5)
	for i := range 50 {
		prefix := "dcfw.input.policy"
		if i%10 == 9 {
			prefix = "dcfw.output.rule.1"
		}
		ns.send(t, nflog.Record{Hook: nflog.HookInput, Prefix: prefix, InDev: 2, Payload: payload(t, tcp4SYN)})
		clk.advance(100 * time.Millisecond)
	}
	ns.send(t) // an empty batch: all 50 records have been handled once it is taken
	waitEntries(t, logs, 5)
	if n := r.Blocked(); n != 50 {
		t.Errorf("Blocked() = %d, want 50", n)
	}
	r.flush() // within the minute: nothing yet
	if logs.Len() != 5 {
		t.Fatalf("summary before the minute is over: %v", logs.All()[5:])
	}
	clk.advance(time.Minute)
	r.flush()
	s := waitEntries(t, logs, 6)[5]
	m := s.ContextMap()
	if s.Message != msgSuppressed || m["lines"] != int64(45) || m["rules"] != "dcfw.input.policy=40 dcfw.output.rule.1=5" ||
		m["container"] != "web" || m["cap_per_minute"] != int64(5) {
		t.Errorf("summary %q %v", s.Message, m)
	}
	// The next minute writes lines again.
	ns.send(t, nflog.Record{Hook: nflog.HookInput, Prefix: "dcfw.input.policy", Payload: payload(t, tcp4SYN)})
	waitEntries(t, logs, 7)
	// An hour later none of them counts.
	clk.advance(time.Hour)
	if n := r.Blocked(); n != 0 {
		t.Errorf("Blocked() an hour later = %d", n)
	}
}

// Lines of allow-rule logs are capped too, but are not blocked packets.
func TestReaderBlockedCountsOnlyBlocked(t *testing.T) {
	r, ns, _, logs := startReader(t, 0)
	ns.send(t, nflog.Record{Prefix: "dcfw.input.rule.3", Payload: payload(t, tcp4SYN)},
		nflog.Record{Prefix: "dcfw.input.policy", Payload: payload(t, tcp4SYN)})
	waitEntries(t, logs, 2)
	if n := r.Blocked(); n != 1 {
		t.Errorf("Blocked() = %d, want 1", n)
	}
}

func TestReaderCloseWritesHeldBackAndReleases(t *testing.T) {
	r, ns, _, logs := startReader(t, 1)
	ns.send(t, nflog.Record{Prefix: "dcfw.input.policy", Payload: payload(t, tcp4SYN)},
		nflog.Record{Prefix: "dcfw.input.policy", Payload: payload(t, tcp4SYN)})
	ns.send(t)
	waitEntries(t, logs, 1)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if !ns.isClosed() {
		t.Error("Close did not close the namespace's sockets")
	}
	got := waitEntries(t, logs, 2)
	if got[1].Message != msgSuppressed || got[1].ContextMap()["lines"] != int64(1) {
		t.Errorf("after Close: %v", got[1])
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for _, e := range logs.All() {
		if e.Level >= zapcore.WarnLevel && e.Message != msgSuppressed {
			t.Errorf("Close logged %q: closing is not a failure", e.Message)
		}
	}
}

func TestReaderSetRules(t *testing.T) {
	r, ns, _, logs := startReader(t, 0)
	r.SetRules(Container{Name: "web2", ID: "fedcba9876543210"}, nft.LogRules{
		"dcfw.input.policy": {Chain: nft.InputChain, Label: "dcfw.input.policy", Action: labels.Reject, Policy: true},
	})
	ns.send(t, nflog.Record{Prefix: "dcfw.input.policy", Payload: payload(t, tcp4SYN)})
	m := waitEntries(t, logs, 1)[0].ContextMap()
	if m["container"] != "web2" || m["id"] != "fedcba987654" || m["verdict"] != "reject" {
		t.Errorf("after SetRules: %v", m)
	}
}

func TestReaderOverrunIsReported(t *testing.T) {
	r, ns, _, logs := startReader(t, 0)
	select {
	case ns.errs <- nflog.ErrOverrun:
	case <-time.After(time.Second):
		t.Fatal("reader did not receive")
	}
	ns.send(t) // the overrun has been counted once this is taken
	r.flush()
	e := waitEntries(t, logs, 1)[0]
	if e.Message != msgSuppressed || e.ContextMap()["overruns"] != int64(1) {
		t.Errorf("got %q %v", e.Message, e.ContextMap())
	}
}

func TestReaderStopsOnErrorAndSaysSo(t *testing.T) {
	_, ns, _, logs := startReader(t, 0)
	select {
	case ns.errs <- errFakeClosed:
	case <-time.After(time.Second):
		t.Fatal("reader did not receive")
	}
	e := waitEntries(t, logs, 1)[0]
	if e.Level != zapcore.WarnLevel || e.ContextMap()["container"] != "web" {
		t.Errorf("got %v %q %v", e.Level, e.Message, e.ContextMap())
	}
}
