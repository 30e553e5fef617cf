package testpeer

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DNS answers A and AAAA queries over UDP from a file of answers that it
// reads again for every query, so a test changes the answers while the
// server runs (SetDNSAnswer, `dcfw-testpeer dns-set`). A line of the file
// is "NAME TTL ADDR[,ADDR...]" (TTL in seconds); a name without a line is
// NXDOMAIN, a name with no address of the asked family has an empty
// answer. Every query is logged ("dns query NAME TYPE from ADDR"), so a
// test can tell which resolver asked.
type DNS struct {
	path string
	log  *lineLogger
	conn net.PacketConn
}

// ListenDNS binds UDP port on all addresses; answers is the file's path.
func ListenDNS(port uint16, answers string, logw io.Writer) (*DNS, error) {
	c, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, fmt.Errorf("listen udp port %d: %w", port, err)
	}
	return &DNS{path: answers, log: &lineLogger{w: logw}, conn: c}, nil
}

// Addr is the bound address.
func (d *DNS) Addr() net.Addr { return d.conn.LocalAddr() }

// Serve answers until ctx ends, then closes the socket.
func (d *DNS) Serve(ctx context.Context) {
	go func() {
		<-ctx.Done()
		d.conn.Close()
	}()
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		var q dns.Msg
		if q.Unpack(buf[:n]) != nil || len(q.Question) != 1 {
			continue
		}
		resp := d.answer(&q)
		d.log.printf("dns query %s %s from %s rcode %s answers %d", strings.TrimSuffix(q.Question[0].Name, "."),
			dns.TypeToString[q.Question[0].Qtype], from, dns.RcodeToString[resp.Rcode], len(resp.Answer))
		if b, err := resp.Pack(); err == nil {
			_, _ = d.conn.WriteTo(b, from)
		}
	}
}

func (d *DNS) answer(q *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(q)
	resp.Authoritative = true
	qn := q.Question[0]
	answers, err := ReadDNSAnswers(d.path)
	if err != nil {
		resp.Rcode = dns.RcodeServerFailure
		return resp
	}
	a, ok := answers[strings.ToLower(strings.TrimSuffix(qn.Name, "."))]
	if !ok {
		resp.Rcode = dns.RcodeNameError
		return resp
	}
	hdr := dns.RR_Header{Name: qn.Name, Class: dns.ClassINET, Ttl: uint32(a.TTL / time.Second)}
	for _, addr := range a.Addrs {
		switch {
		case qn.Qtype == dns.TypeA && addr.Is4():
			h := hdr
			h.Rrtype = dns.TypeA
			resp.Answer = append(resp.Answer, &dns.A{Hdr: h, A: addr.AsSlice()})
		case qn.Qtype == dns.TypeAAAA && addr.Is6():
			h := hdr
			h.Rrtype = dns.TypeAAAA
			resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: h, AAAA: addr.AsSlice()})
		}
	}
	return resp
}

// DNSAnswer is the answer for one name.
type DNSAnswer struct {
	TTL   time.Duration
	Addrs []netip.Addr
}

// ReadDNSAnswers reads an answers file (a missing file has no answers).
func ReadDNSAnswers(path string) (map[string]DNSAnswer, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]DNSAnswer{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]DNSAnswer{}
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		name, a, err := ParseDNSAnswer(f)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		out[name] = a
	}
	return out, nil
}

// ParseDNSAnswer reads "NAME TTL ADDR[,ADDR...]" split into fields.
func ParseDNSAnswer(f []string) (string, DNSAnswer, error) {
	if len(f) != 3 {
		return "", DNSAnswer{}, fmt.Errorf("want NAME TTL ADDR[,ADDR...], got %q", strings.Join(f, " "))
	}
	ttl, err := strconv.ParseUint(f[1], 10, 31)
	if err != nil {
		return "", DNSAnswer{}, fmt.Errorf("TTL: %w", err)
	}
	a := DNSAnswer{TTL: time.Duration(ttl) * time.Second}
	for _, s := range strings.Split(f[2], ",") {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return "", DNSAnswer{}, err
		}
		a.Addrs = append(a.Addrs, addr.Unmap())
	}
	return strings.ToLower(strings.TrimSuffix(f[0], ".")), a, nil
}

// SetDNSAnswer replaces (or adds) the line of name in the answers file,
// through a rename, so the server never reads half a file.
func SetDNSAnswer(path, name string, a DNSAnswer) error {
	answers, err := ReadDNSAnswers(path)
	if err != nil {
		return err
	}
	answers[strings.ToLower(name)] = a
	var b strings.Builder
	for n, a := range answers {
		addrs := make([]string, len(a.Addrs))
		for i, x := range a.Addrs {
			addrs[i] = x.String()
		}
		fmt.Fprintf(&b, "%s %d %s\n", n, int(a.TTL/time.Second), strings.Join(addrs, ","))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
