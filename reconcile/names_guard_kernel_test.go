package reconcile

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nft"
)

// TestKernelEmbeddedDNSCannotBeTakenOver: a process of the container that
// binds 127.0.0.11:53 (free: the engine's DNS listens on another port, its
// NAT sends port 53 there) and sends from it to every local port first
// makes each later query to 127.0.0.11:53 from such a port the reply
// direction of its own flow: the engine's NAT never sees it, and the
// process answers dcfw's lookup itself. Without dcfw's table that works
// (the test shows it); with it, the process's first packets are dropped
// and the engine's DNS answers. No NET_RAW or NET_ADMIN is needed.
func TestKernelEmbeddedDNSCannotBeTakenOver(t *testing.T) {
	engineAnswer, forged := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("192.0.2.66")
	if got := takeOverAttempt(t, false); !slices.Contains(got, forged) {
		t.Fatalf("without dcfw's table the lookup got %v, want the forged %s: the attack this test guards against did not work", got, forged)
	}
	got := takeOverAttempt(t, true)
	if slices.Contains(got, forged) || !slices.Contains(got, engineAnswer) {
		t.Errorf("with dcfw's table the lookup got %v, want the engine's %s only", got, engineAnswer)
	}
}

// takeOverAttempt sets up a namespace as the engine does (its DNS on
// 127.0.0.11:5353, NAT from port 53), optionally dcfw's table, then the
// attacker, and returns what dcfw's resolver gets for "db".
func takeOverAttempt(t *testing.T, withTable bool) []netip.Addr {
	t.Helper()
	h := testnet.NewNS(t, "dnsguard")
	// Few ephemeral ports, so that the attacker can claim them all.
	h.Sysctl(t, "net.ipv4.ip_local_port_range", "40000 40007")
	h.NFTScript(t, `table ip enginenat {
	chain out { type nat hook output priority -100; ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:5353; }
}`)
	if withTable {
		p, err := labels.Parse(map[string]string{"dcfw.enable": "true", "dcfw.output.policy": "deny",
			"dcfw.output.rule.1": "allow proto tcp to db port 5432"})
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := nft.CompileNames(p, "0123456789ab", nil)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := nft.Dial(h.Fd())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Apply(tbl, false); err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	serve := func(addr string, answer netip.Addr) net.PacketConn {
		var pc net.PacketConn
		if err := h.Do(func() (err error) { pc, err = net.ListenPacket("udp", addr); return err }); err != nil {
			t.Fatal(err)
		}
		srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(req)
			if q := req.Question[0]; q.Qtype == dns.TypeA && q.Name == "db." {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: answer.AsSlice()})
			}
			w.WriteMsg(m)
		})}
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
		return pc
	}
	serve("127.0.0.11:5353", netip.MustParseAddr("10.0.0.5"))
	attacker := serve("127.0.0.11:53", netip.MustParseAddr("192.0.2.66"))
	for port := 40000; port <= 40007; port++ {
		for _, dst := range []string{"127.0.0.1", "127.0.0.11"} {
			attacker.WriteTo([]byte{0}, &net.UDPAddr{IP: net.ParseIP(dst), Port: port}) // dropped by dcfw: no error to check
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := NSResolver{}.Resolve(ctx, NameQuery{NS: borrowedNS{h}, Embedded: true, Names: []string{"db"}})
	if len(res) != 1 {
		t.Fatalf("%d results", len(res))
	}
	var out []netip.Addr
	for _, a := range res[0].Answer.Addrs {
		out = append(out, a.Addr)
	}
	return out
}
