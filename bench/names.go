package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/dcfw/dcfw/names"
	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
	"github.com/dcfw/dcfw/reconcile"
)

// NamesLabels are SteadyLabels with three rules that name their peers:
// two compose services (web, db) and a DNS host name, as a service of a
// compose project would. Each name is resolved in every cycle.
func NamesLabels() map[string]string {
	l := SteadyLabels()
	l["dcfw.input.rule.5"] = "allow proto tcp from web to any port 8080 comment web-by-name"
	l["dcfw.output.rule.4"] = "allow proto tcp to db port 5432 comment db-by-name"
	l["dcfw.output.rule.5"] = "allow proto tcp to api.example.com port 443 comment api-by-name"
	return l
}

// NameAnswers are what the fleet's DNS servers answer (TTL 600 s, the
// engine's for container names); other names are NXDOMAIN.
var NameAnswers = map[string][]netip.Addr{
	"web":             {netip.MustParseAddr("10.0.1.7")},
	"db":              {netip.MustParseAddr("10.0.1.5")},
	"api.example.com": {netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("2001:db8::10")},
}

// fleetDNS is where each namespace's DNS server listens: the engine's
// embedded DNS listens on loopback too (127.0.0.11).
var fleetDNS = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.11"), 53)

// FleetResolver is the daemon's resolver (reconcile.NSResolver: sockets
// made in the namespace, the queries) asking each sleeper's own DNS server
// at the embedded DNS's address.
type FleetResolver struct{}

var _ reconcile.NameResolver = FleetResolver{}

// Upstream implements reconcile.NameResolver: the fleet forwards nothing.
func (r FleetResolver) Upstream([]netip.Addr) []netip.Addr { return nil }

// Resolve implements reconcile.NameResolver.
func (r FleetResolver) Resolve(ctx context.Context, q reconcile.NameQuery) []names.Result {
	q.Embedded = true
	return reconcile.NSResolver{Embedded: fleetDNS}.Resolve(ctx, q)
}

// ServeDNSCommand is the argument that makes dcfw-bench the fleet's DNS
// servers (StartFleetDNS): another process, so that what they cost is not
// counted as dcfw's CPU.
const ServeDNSCommand = "serve-fleet-dns"

// StartFleetDNS starts exe (dcfw-bench) as the DNS servers of the
// namespaces of pids, one on 127.0.0.11:53 in each (loopback brought up),
// and returns once all of them listen. stop ends it.
func StartFleetDNS(exe string, pids []int) (stop func(), err error) {
	cmd := exec.Command(exe, ServeDNSCommand)
	var in strings.Builder
	for _, p := range pids {
		fmt.Fprintln(&in, p)
	}
	cmd.Stdin = strings.NewReader(in.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() && sc.Text() == "ready" {
			ready <- nil
		} else {
			ready <- errors.New("the DNS servers did not start")
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case err = <-ready:
	case <-time.After(time.Minute):
		err = errors.New("the DNS servers did not start within a minute")
	}
	if err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// ServeFleetDNS is the DNS servers' process: it reads PIDs from in, binds
// a server in each one's namespace, prints "ready" and answers until it is
// killed.
func ServeFleetDNS(in io.Reader, out io.Writer) error {
	var conns []net.PacketConn
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		pid, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
		if err != nil {
			continue
		}
		c, err := listenIn(pid)
		if err != nil {
			return fmt.Errorf("namespace of %d: %w", pid, err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		go answerDNS(c)
	}
	fmt.Fprintln(out, "ready")
	select {}
}

// listenIn brings loopback up in pid's namespace and binds the DNS
// address there, on a thread that goes back to the host's namespace.
func listenIn(pid int) (net.PacketConn, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	host, err := netns.Get()
	if err != nil {
		return nil, err
	}
	defer host.Close()
	target, err := netns.GetFromPid(pid)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return nil, err
	}
	defer func() {
		if netns.Set(host) != nil {
			panic("cannot return to the host's namespace")
		}
	}()
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return nil, fmt.Errorf("loopback up: %w", err)
	}
	return net.ListenPacket("udp", fleetDNS.String())
}

func answerDNS(c net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		var q dns.Msg
		if q.Unpack(buf[:n]) != nil || len(q.Question) != 1 {
			continue
		}
		resp := new(dns.Msg)
		resp.SetReply(&q)
		qn := q.Question[0]
		addrs, ok := NameAnswers[strings.TrimSuffix(strings.ToLower(qn.Name), ".")]
		if !ok {
			resp.Rcode = dns.RcodeNameError
		}
		for _, a := range addrs {
			hdr := dns.RR_Header{Name: qn.Name, Class: dns.ClassINET, Ttl: 600}
			switch {
			case qn.Qtype == dns.TypeA && a.Is4():
				hdr.Rrtype = dns.TypeA
				resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
			case qn.Qtype == dns.TypeAAAA && a.Is6():
				hdr.Rrtype = dns.TypeAAAA
				resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
		if b, err := resp.Pack(); err == nil {
			_, _ = c.WriteTo(b, from)
		}
	}
}

// PrintNames prints the steady cycle with names beside the one without
// (same N, same run).
func PrintNames(w io.Writer, withNames, without []SteadyResult) {
	if len(withNames) == 0 {
		return
	}
	fmt.Fprintf(w, "\nNames: the steady cycle with %d names per namespace (NamesLabels: two services and a DNS host name), each resolved\n", len(NameAnswers))
	fmt.Fprintf(w, "     in every cycle inside its namespace (A and AAAA from a DNS server on 127.0.0.11 there, in another process),\n")
	fmt.Fprintf(w, "     beside the cycle without names (SteadyLabels); median (and min-max) of the measured cycles\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tcycle\trules/table\twall p50\twall min-max\tCPU p50\tnames resolved/cycle\twrites/cycle\tallocs/cycle\tVmHWM\t")
	row := func(r SteadyResult, what string) {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s - %s\t%s\t%.0f\t%.0f\t%d\t%s\t\n", r.N, what, r.RulesPerTable,
			Ms(Percentile(r.Walls(), 0.5)), Ms(Min(r.Walls())), Ms(Max(r.Walls())), Ms(Percentile(r.CPUs(), 0.5)),
			r.LookupsPerCycle, r.WritesPerCycle(), PercentileInt(r.Mallocs(), 0.5), MB(r.Memory.HWM))
	}
	for _, n := range withNames {
		for _, o := range without {
			if o.N == n.N && o.Strategy == MinimalDiff {
				row(o, "minimal diff, no names")
			}
		}
		row(n, "minimal diff, names")
	}
	tw.Flush()
}

// CheckNameSets reads the table of the fleet's first namespace and checks
// that every name's sets hold what the DNS servers answer: a cycle whose
// lookups failed would be cheap and mean nothing.
func (f *Fleet) CheckNameSets() error {
	ns, err := netnsutil.OpenPID("/proc", f.PIDs()[0])
	if err != nil {
		return err
	}
	defer ns.Close()
	conn, err := nft.Dial(ns.Fd())
	if err != nil {
		return err
	}
	defer conn.Close()
	live, err := conn.Read()
	if err != nil {
		return err
	}
	for name, want := range NameAnswers {
		var got []netip.Addr
		for _, fam := range []nft.Family{nft.IPv4, nft.IPv6} {
			if s := live.Set(nft.NameSet(name, fam)); s != nil {
				got = append(got, s.Elements...)
			}
		}
		for _, a := range want {
			if !slices.Contains(got, a) {
				return fmt.Errorf("bench: the sets of %s hold %v, want %v: the lookups failed", name, got, want)
			}
		}
	}
	return nil
}
