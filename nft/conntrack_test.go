package nft

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
)

// Connections opened before dcfw's table (conntrack.go): when the table is
// created or repaired, a connection the policy forbids stops carrying data
// at once, one it allows goes on, in either direction of data.

// byteCounter counts bytes that arrived on one side of test connections.
type byteCounter struct{ n atomic.Int64 }

// streams holds the test's connections; everything closes at cleanup.
type streams struct {
	t      *testing.T
	ctx    context.Context
	closer []io.Closer
}

func newStreams(t *testing.T) *streams {
	ctx, cancel := context.WithCancel(context.Background())
	s := &streams{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancel()
		for _, c := range s.closer {
			c.Close()
		}
	})
	return s
}

// push writes to c every 10ms until the test ends; a write the network
// does not take (a drop filled the buffer) just times out.
func (s *streams) push(c net.Conn) {
	s.closer = append(s.closer, c)
	go func() {
		buf := make([]byte, 64)
		for s.ctx.Err() == nil {
			c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			c.Write(buf)
			time.Sleep(10 * time.Millisecond)
		}
	}()
}

func (s *streams) count(c net.Conn, n *byteCounter) {
	s.closer = append(s.closer, c)
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			n.n.Add(int64(k))
			if err != nil {
				return
			}
		}
	}()
}

// listen opens a listener in h; each accepted connection is pushed to
// (push) or counted into n.
func (s *streams) listen(h *testnet.Host, addr string, n *byteCounter) {
	s.t.Helper()
	var l net.Listener
	if err := h.Do(func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		s.t.Fatal(err)
	}
	s.closer = append(s.closer, l)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if n == nil {
				s.push(c)
			} else {
				s.count(c, n)
			}
		}
	}()
}

// dial connects from h; the connection is pushed to (n nil) or counted.
func (s *streams) dial(h *testnet.Host, addr string, n *byteCounter) {
	s.t.Helper()
	var c net.Conn
	if err := h.Do(func() (err error) { c, err = net.DialTimeout("tcp", addr, probeTimeout); return err }); err != nil {
		s.t.Fatalf("dial %s from %s: %v", addr, h, err)
	}
	if n == nil {
		s.push(c)
	} else {
		s.count(c, n)
	}
}

// flowing reports, for each counter, whether it grew within d.
func flowing(d time.Duration, cs ...*byteCounter) []bool {
	before := make([]int64, len(cs))
	for i, c := range cs {
		before[i] = c.n.Load()
	}
	time.Sleep(d)
	out := make([]bool, len(cs))
	for i, c := range cs {
		out[i] = c.n.Load() > before[i]
	}
	return out
}

// settle lets data that was in flight when a table was applied arrive.
const settle = 300 * time.Millisecond

func TestKernelConnectionsBeforeTheRules(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	// Conntrack follows the connections from their first packet, as in a
	// container with Docker's embedded DNS (whose NAT rules need
	// conntrack). A namespace where nothing used conntrack before dcfw
	// has its older connections picked up mid-stream instead (see the
	// package doc).
	tp.srv.NFTScript(t, "table inet conntrack_user {\n\tchain c {\n\t\ttype filter hook output priority 100; policy accept;\n\t\tct state new\n\t}\n}\n")
	s := newStreams(t)
	// srv opens connections out (and pushes), cli opens connections in
	// (and srv pushes back: data only in the reply direction).
	var out3306, out3307, in80, in81 byteCounter
	s.listen(tp.cli, ":3306", &out3306)
	s.listen(tp.cli, ":3307", &out3307)
	s.listen(tp.srv, ":80", nil)
	s.listen(tp.srv, ":81", nil)
	s.dial(tp.srv, cliIP+":3306", nil)
	s.dial(tp.srv, cliIP+":3307", nil)
	s.dial(tp.cli, srvIP+":80", &in80)
	s.dial(tp.cli, srvIP+":81", &in81)
	all := []*byteCounter{&out3306, &out3307, &in80, &in81}
	names := []string{"srv -> cli:3306 (allowed)", "srv -> cli:3307 (forbidden)", "cli -> srv:80, srv pushing (allowed)", "cli -> srv:81, srv pushing (forbidden)"}
	for i, ok := range flowing(settle, all...) {
		if !ok {
			t.Fatalf("without dcfw: %s carries no data", names[i])
		}
	}

	tbl := mustCompile(t, enabled(labels.Deny, labels.Deny,
		[]labels.Rule{{Action: labels.Allow, Proto: labels.TCP, To: labels.Endpoint{Ports: ports("80")}}},
		[]labels.Rule{{Action: labels.Allow, Proto: labels.TCP, To: labels.Endpoint{Addrs: pfx(cliIP), Ports: ports("3306")}}}))
	mustApply(t, tp.conn, tbl)
	time.Sleep(settle)
	want := []bool{true, false, true, false}
	check := func(phase string) {
		t.Helper()
		for i, ok := range flowing(time.Second, all...) {
			if ok != want[i] {
				t.Errorf("%s: %s: data flowing %v, want %v", phase, names[i], ok, want[i])
			}
		}
	}
	check("table created")

	// Someone deletes the tables (the inet one alone would leave the
	// egress chains dropping everything); a forbidden connection opened
	// meanwhile works; the repair stops it and the allowed ones go on.
	tp.srv.NFTScript(t, "delete table inet dcfw\ndelete table netdev dcfw\n")
	var late byteCounter
	s.listen(tp.cli, ":3308", &late)
	s.dial(tp.srv, cliIP+":3308", nil)
	all, names, want = append(all, &late), append(names, "srv -> cli:3308 opened while the tables were gone"), append(want, false)
	if got := flowing(settle, &late); !got[0] {
		t.Fatalf("without the table a forbidden connection carries no data")
	}
	res := mustApply(t, tp.conn, tbl)
	if !res.Created {
		t.Fatalf("repair: %+v", res)
	}
	time.Sleep(settle)
	check("table repaired")
}
