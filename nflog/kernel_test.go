package nflog

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/internal/testnet"
)

var capture = flag.Bool("capture", false, "write the raw records the kernel tests receive as fuzz seeds under testdata/fuzz/FuzzDecodeRecord")

const logAllNetns = "/proc/sys/net/netfilter/nf_log_all_netns"

// readLogAllNetns reads the host's nf_log_all_netns; the tests only read
// it, and check at the end that nobody changed it.
func readLogAllNetns(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(logAllNetns)
	if err != nil {
		t.Fatalf("read %s: %v", logAllNetns, err)
	}
	return strings.TrimSpace(string(b))
}

// pair is a server namespace that logs and drops, and a client linked to it.
type pair struct {
	srv, cli *testnet.Host
	srvIfidx uint32
}

func newPair(t *testing.T) pair {
	t.Helper()
	testenv.RequireNetAdmin(t)
	srv, cli := testnet.NewNS(t, "nflog-srv"), testnet.NewNS(t, "nflog-cli")
	testnet.Link(t,
		srv, testnet.End{Name: "eth0", IPv4: "10.99.71.1/24", IPv6: "fd00:99:71::1/64"},
		cli, testnet.End{Name: "eth0", IPv4: "10.99.71.2/24", IPv6: "fd00:99:71::2/64"})
	l, err := srv.Netlink().LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	// Traffic passes before the rules, so a missing record is not a routing bug.
	if got := cli.DialTCP("10.99.71.1:81", time.Second); got != testnet.Refused {
		t.Fatalf("before the rules, connect to a closed port: %v, want Refused", got)
	}
	return pair{srv: srv, cli: cli, srvIfidx: uint32(l.Attrs().Index)}
}

// receiveOne waits up to wait for records and then for quiet more, and
// returns all it got.
func receiveAll(t *testing.T, c *Conn, wait, quiet time.Duration) []Record {
	t.Helper()
	var got []Record
	deadline := time.Now().Add(wait)
	for {
		if err := c.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		recs, err := c.Receive()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return got
			}
			t.Fatalf("Receive: %v", err)
		}
		got = append(got, recs...)
		deadline = time.Now().Add(quiet)
	}
}

func TestKernelDropIsLoggedToGroup(t *testing.T) {
	p := newPair(t)
	before := readLogAllNetns(t)
	if before != "0" {
		t.Logf("nf_log_all_netns is %s on this host: the test still checks the records, not that they need no sysctl", before)
	}
	t.Cleanup(func() {
		if after := readLogAllNetns(t); after != before {
			t.Errorf("nf_log_all_netns changed from %s to %s", before, after)
		}
	})
	p.srv.NFTScript(t, `table inet nflogtest {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 81 log group 7 prefix "dcfw i1" drop
		udp dport 82 log group 7 prefix "dcfw i2" drop
	}
}`)
	c, err := Dial(p.srv.Fd(), Config{Group: 7})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()

	tests := []struct {
		name  string
		probe func() testnet.Outcome
		want  Record
		pkt   Packet
	}{{
		name:  "tcp syn over ipv4",
		probe: func() testnet.Outcome { return p.cli.DialTCP("10.99.71.1:81", 500*time.Millisecond) },
		want:  Record{Group: 7, Family: unix.NFPROTO_IPV4, Hook: HookInput, HWProtocol: unix.ETH_P_IP, Prefix: "dcfw i1", InDev: p.srvIfidx},
		pkt:   Packet{Version: 4, Protocol: ProtoTCP, Src: netip.MustParseAddr("10.99.71.2"), Dst: netip.MustParseAddr("10.99.71.1"), Ports: true, DstPort: 81, TCPFlags: TCPSyn},
	}, {
		name:  "udp over ipv6",
		probe: func() testnet.Outcome { return p.cli.ExchangeUDP("[fd00:99:71::1]:82", 500*time.Millisecond) },
		want:  Record{Group: 7, Family: unix.NFPROTO_IPV6, Hook: HookInput, HWProtocol: unix.ETH_P_IPV6, Prefix: "dcfw i2", InDev: p.srvIfidx},
		pkt:   Packet{Version: 6, Protocol: ProtoUDP, Src: netip.MustParseAddr("fd00:99:71::2"), Dst: netip.MustParseAddr("fd00:99:71::1"), Ports: true, DstPort: 82},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			outcome := make(chan testnet.Outcome, 1)
			go func() { outcome <- tt.probe() }()
			// The record comes at once, not after the kernel's batch timeout.
			c.SetReadDeadline(start.Add(300 * time.Millisecond))
			first, err := c.Receive()
			if err != nil {
				t.Fatalf("no record within 300 ms: %v", err)
			}
			if got := <-outcome; got != testnet.TimedOut {
				t.Fatalf("probe: %v, want TimedOut (dropped)", got)
			}
			recs := append(first, receiveAll(t, c, 300*time.Millisecond, 300*time.Millisecond)...)
			if len(recs) != 1 {
				t.Fatalf("got %d records, want exactly 1: %+v", len(recs), recs)
			}
			r := recs[0]
			if len(r.Payload) == 0 || len(r.Payload) > DefaultCopyRange {
				t.Errorf("payload of %d bytes, want 1..%d", len(r.Payload), DefaultCopyRange)
			}
			pkt, err := DecodePacket(r.Payload)
			if err != nil {
				t.Fatalf("DecodePacket: %v", err)
			}
			if pkt.SrcPort == 0 {
				t.Errorf("source port 0")
			}
			tt.pkt.SrcPort = pkt.SrcPort // chosen by the client's kernel
			if pkt != tt.pkt {
				t.Errorf("packet:\n got %+v\nwant %+v", pkt, tt.pkt)
			}
			got := r
			got.Payload, got.Time, got.Mark, got.OutDev = nil, time.Time{}, 0, 0
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("record:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestKernelOutputHookRecord(t *testing.T) {
	p := newPair(t)
	p.cli.NFTScript(t, `table inet nflogtest {
	chain output {
		type filter hook output priority filter; policy accept;
		tcp dport 83 log group 9 prefix "dcfw o1" drop
	}
}`)
	c, err := Dial(p.cli.Fd(), Config{Group: 9})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	if got := p.cli.DialTCP("10.99.71.1:83", 500*time.Millisecond); got != testnet.TimedOut {
		t.Fatalf("probe: %v, want TimedOut", got)
	}
	recs := receiveAll(t, c, time.Second, 300*time.Millisecond)
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1: %+v", len(recs), recs)
	}
	l, err := p.cli.Netlink().LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if r := recs[0]; r.Hook != HookOutput || r.OutDev != uint32(l.Attrs().Index) || r.InDev != 0 || r.Prefix != "dcfw o1" {
		t.Errorf("record %+v: want hook output, outdev %d, no indev, prefix dcfw o1", r, l.Attrs().Index)
	}
}

func TestKernelSecondBindIsBusy(t *testing.T) {
	testenv.RequireNetAdmin(t)
	h := testnet.NewNS(t, "nflog-busy")
	c, err := Dial(h.Fd(), Config{Group: 3})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	if c2, err := Dial(h.Fd(), Config{Group: 3}); !errors.Is(err, ErrGroupBusy) {
		if c2 != nil {
			c2.Close()
		}
		t.Fatalf("second Dial of group 3: %v, want ErrGroupBusy", err)
	}
	// Another namespace has its own groups.
	other := testnet.NewNS(t, "nflog-other")
	c3, err := Dial(other.Fd(), Config{Group: 3})
	if err != nil {
		t.Fatalf("Dial in another namespace: %v", err)
	}
	c3.Close()
	// Closing releases the group.
	c.Close()
	c4, err := Dial(h.Fd(), Config{Group: 3})
	if err != nil {
		t.Fatalf("Dial after Close: %v", err)
	}
	c4.Close()
}

func TestKernelCloseEndsReceive(t *testing.T) {
	testenv.RequireNetAdmin(t)
	h := testnet.NewNS(t, "nflog-close")
	c, err := Dial(h.Fd(), Config{Group: 4})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Receive()
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Receive after Close returned no error")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Receive still blocked 2 s after Close")
	}
}

// TestKernelRawRecordsDecode reads real records as raw netlink messages,
// through a socket bound with the message Dial sends, and decodes them with
// DecodeRecord; with -capture it writes them as fuzz seeds.
func TestKernelRawRecordsDecode(t *testing.T) {
	p := newPair(t)
	p.srv.NFTScript(t, `table inet nflogtest {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 81 log group 7 prefix "dcfw i1" drop
		udp dport 82 log group 7 prefix "dcfw p" drop
	}
}`)
	nc, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: p.srv.Fd()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m, err := configMessage(Config{Group: 7})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Execute(m); err != nil {
		t.Fatal(err)
	}
	p.cli.DialTCP("10.99.71.1:81", 300*time.Millisecond)
	p.cli.ExchangeUDP("[fd00:99:71::1]:82", 300*time.Millisecond)
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeRecord")
	var prefixes []string
	for len(prefixes) < 2 {
		nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		msgs, err := nc.Receive()
		if err != nil {
			t.Fatalf("after %d records: %v", len(prefixes), err)
		}
		for _, m := range msgs {
			r, err := DecodeRecord(m)
			if errors.Is(err, ErrNotPacket) {
				continue // NLMSG_DONE ends a multipart batch
			}
			if err != nil {
				t.Fatalf("DecodeRecord: %v", err)
			}
			if _, err := DecodePacket(r.Payload); err != nil {
				t.Errorf("DecodePacket: %v", err)
			}
			prefixes = append(prefixes, r.Prefix)
			if !*capture {
				continue
			}
			b, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(dir, fmt.Sprintf("captured-%s", strings.ReplaceAll(r.Prefix, " ", "-")))
			if err := os.WriteFile(name, []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s", name, hex.EncodeToString(b))
		}
	}
	if fmt.Sprint(prefixes) != "[dcfw i1 dcfw p]" {
		t.Errorf("prefixes %q, want dcfw i1 then dcfw p", prefixes)
	}
}

// Records that do not fit the socket's buffer are lost: Receive says so
// once (ErrOverrun) and then goes on with what came after.
func TestKernelOverrunIsReported(t *testing.T) {
	p := newPair(t)
	p.srv.NFTScript(t, `table inet nflogtest {
	chain input {
		type filter hook input priority filter; policy accept;
		udp dport 84 log group 8 prefix "flood" drop
	}
}`)
	// The smallest buffer the kernel allows holds a few records only.
	c, err := Dial(p.srv.Fd(), Config{Group: 8, ReadBuffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := p.cli.Do(func() error {
		u, err := net.Dial("udp", "10.99.71.1:84")
		if err != nil {
			return err
		}
		defer u.Close()
		for range 200 {
			if _, err := u.Write([]byte("flood")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("send: %v", err)
	}
	overruns, records := 0, 0
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.SetReadDeadline(deadline)
		recs, err := c.Receive()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if errors.Is(err, ErrOverrun) {
			overruns++
			continue
		}
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if overruns > 0 {
			records += len(recs)
		}
		deadline = time.Now().Add(300 * time.Millisecond)
	}
	if overruns == 0 || records == 0 {
		t.Errorf("%d overruns, then %d records: want at least one overrun, then records again", overruns, records)
	}
}
