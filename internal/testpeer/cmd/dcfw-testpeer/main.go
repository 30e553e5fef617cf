// Command dcfw-testpeer is the program inside dcfw's end-to-end test image
// (FROM scratch, this static binary alone). The tests run containers with it
// as the entrypoint and `docker exec` it to make connections:
//
//	dcfw-testpeer serve [--tcp 80,81] [--udp 53] [--stream 7000]
//	    listen on all addresses; TCP gets "ok <host> <addr>", UDP is echoed;
//	    every connection is logged on stdout, and every line received on a
//	    stream port ("stream from <addr>: seq N")
//	dcfw-testpeer stream HOST:PORT [--every 100ms]
//	    open one TCP connection and write "seq N" into it every interval
//	    until stopped (a long-lived connection for the firewall tests)
//	dcfw-testpeer connect tcp|udp HOST:PORT [--timeout 1s]
//	    one attempt; prints the outcome word first and exits with its code:
//	    0 connected (tcp) or answered (udp), 10 refused, 11 timeout,
//	    12 unreachable, 13 not-permitted, 14 failed
//	dcfw-testpeer ping IP [--timeout 1s]
//	    ICMP/ICMPv6 echo, same outcomes and exit codes
//	dcfw-testpeer first-connect tcp|udp HOST:PORT [--timeout 2s]
//	    the very first thing the process does is that connect; it then prints
//	    "first-connect <outcome> ..." and sleeps, so the test reads the logs
//	dcfw-testpeer dns [--port 53] [--answers /dns-answers] [NAME TTL ADDR[,ADDR...]]...
//	    a DNS server (UDP) answering A and AAAA queries from the answers
//	    file, read again for every query; the arguments are written into
//	    it first; every query is logged ("dns query NAME TYPE from ADDR ...")
//	dcfw-testpeer dns-set NAME TTL ADDR[,ADDR...] [--answers /dns-answers]
//	    change one name's answer of a running dns server
//	dcfw-testpeer sleep [DURATION]
//	    print a start line and sleep (forever by default)
//	dcfw-testpeer own-table [NAME]
//	    make `table inet NAME { flags owner; }` (default dcfw; needs
//	    CAP_NET_ADMIN), print "owned inet NAME" and keep it until stopped:
//	    a table dcfw cannot replace
//	dcfw-testpeer raw IFACE DSTMAC SRC:PORT DST:PORT [--mark N] [--priority N]
//	        [--vlan ID] [--ethertype N] [--src-mac MAC] [--qdisc-bypass]
//	    send one hand-built UDP frame through an AF_PACKET socket (needs
//	    CAP_NET_RAW), bypassing the IP stack; prints "sent ..." (exit 0),
//	    "not-permitted ..." when the kernel dropped it on the way out
//	    (exit 13), or "failed ..." (exit 14)
//
// The process exits 0 on SIGTERM or SIGINT: as PID 1 of a container it would
// otherwise ignore them and make every `docker stop` wait for the kill.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dcfw/dcfw/internal/testpeer"
)

const usage = `usage:
  dcfw-testpeer serve [--tcp PORTS] [--udp PORTS] [--stream PORTS]
  dcfw-testpeer stream HOST:PORT [--every 100ms]
  dcfw-testpeer connect tcp|udp HOST:PORT [--timeout 1s]
  dcfw-testpeer ping IP [--timeout 1s]
  dcfw-testpeer first-connect tcp|udp HOST:PORT [--timeout 2s]
  dcfw-testpeer dns [--port 53] [--answers FILE] [NAME TTL ADDR[,ADDR...]]...
  dcfw-testpeer dns-set NAME TTL ADDR[,ADDR...] [--answers FILE]
  dcfw-testpeer sleep [DURATION]
  dcfw-testpeer own-table [NAME]
  dcfw-testpeer raw IFACE DSTMAC SRC:PORT DST:PORT [--mark N] [--priority N] [--vlan ID] [--ethertype N] [--src-mac MAC] [--qdisc-bypass]
`

func main() {
	// Taken before anything else, so that first-connect's start time is the
	// process's own, not the time after flag parsing and signal setup.
	start := time.Now()
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(testpeer.ExitUsage)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var code int
	switch cmd {
	case "first-connect":
		code = firstConnect(start, args)
	case "connect":
		code = connect(args)
	case "ping":
		code = pingCmd(args)
	case "serve":
		code = serve(start, args)
	case "sleep":
		code = sleep(start, args)
	case "dns":
		code = dnsServe(start, args)
	case "dns-set":
		code = dnsSet(args)
	case "raw":
		code = rawCmd(args)
	case "stream":
		code = streamCmd(start, args)
	case "own-table":
		code = ownTable(start, args)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "dcfw-testpeer: unknown command %q\n%s", cmd, usage)
		code = testpeer.ExitUsage
	}
	os.Exit(code)
}

// firstConnect does the connect before setting up anything else (no signal
// handler, no output), then reports and stays alive.
func firstConnect(start time.Time, args []string) int {
	fs := flag.NewFlagSet("first-connect", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the connection")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 2 {
		return usageError("first-connect wants PROTO HOST:PORT", err)
	}
	r := testpeer.Connect(context.Background(), pos[0], pos[1], *timeout)
	fmt.Printf("first-connect %s proto=%s target=%s started=%s pid=%d uid=%d\n",
		r, pos[0], pos[1], start.Format(time.RFC3339Nano), os.Getpid(), os.Getuid())
	ctx, stop := signalContext()
	defer stop()
	<-ctx.Done()
	return 0
}

func connect(args []string) int {
	fs := flag.NewFlagSet("connect", flag.ContinueOnError)
	timeout := fs.Duration("timeout", time.Second, "how long to wait for the connection")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 2 {
		return usageError("connect wants PROTO HOST:PORT", err)
	}
	r := testpeer.Connect(context.Background(), pos[0], pos[1], *timeout)
	fmt.Println(r)
	return r.Outcome.ExitCode()
}

func pingCmd(args []string) int {
	fs := flag.NewFlagSet("ping", flag.ContinueOnError)
	timeout := fs.Duration("timeout", time.Second, "how long to wait for a reply")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		return usageError("ping wants IP", err)
	}
	r := testpeer.Ping(context.Background(), pos[0], *timeout)
	fmt.Println(r)
	return r.Outcome.ExitCode()
}

func serve(start time.Time, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	tcpList := fs.String("tcp", "", "comma-separated TCP ports")
	udpList := fs.String("udp", "", "comma-separated UDP ports")
	streamList := fs.String("stream", "", "comma-separated TCP ports whose received lines are logged")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 0 {
		return usageError("serve takes only --tcp, --udp and --stream", err)
	}
	streamPorts, err := parsePorts(*streamList)
	if err != nil {
		return usageError("--stream", err)
	}
	tcpPorts, err := parsePorts(*tcpList)
	if err != nil {
		return usageError("--tcp", err)
	}
	udpPorts, err := parsePorts(*udpList)
	if err != nil {
		return usageError("--udp", err)
	}
	printStarted("serve", start)
	srv, err := testpeer.Listen(tcpPorts, udpPorts, os.Stdout)
	if err == nil {
		if err = srv.ListenStream(streamPorts); err != nil {
			srv.Close()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dcfw-testpeer:", err)
		return testpeer.ExitFailed
	}
	ctx, stop := signalContext()
	defer stop()
	srv.Serve(ctx)
	return 0
}

func streamCmd(start time.Time, args []string) int {
	fs := flag.NewFlagSet("stream", flag.ContinueOnError)
	every := fs.Duration("every", 100*time.Millisecond, "time between two lines")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 || *every <= 0 {
		return usageError("stream wants HOST:PORT and a positive --every", err)
	}
	printStarted("stream", start)
	ctx, stop := signalContext()
	defer stop()
	if err := testpeer.Stream(ctx, pos[0], *every, os.Stdout); err != nil {
		return testpeer.ExitFailed
	}
	return 0
}

func ownTable(start time.Time, args []string) int {
	if len(args) > 1 {
		return usageError("own-table takes at most one NAME", nil)
	}
	name := "dcfw"
	if len(args) == 1 {
		name = args[0]
	}
	printStarted("own-table", start)
	c, err := testpeer.OwnTable(name)
	if err != nil {
		fmt.Printf("%s err=%q\n", testpeer.Failed, err.Error())
		return testpeer.ExitFailed
	}
	defer c.Close()
	fmt.Printf("owned inet %s\n", name)
	ctx, stop := signalContext()
	defer stop()
	<-ctx.Done()
	return 0
}

func sleep(start time.Time, args []string) int {
	var d time.Duration
	if len(args) > 1 {
		return usageError("sleep takes at most one DURATION", nil)
	}
	if len(args) == 1 {
		var err error
		if d, err = time.ParseDuration(args[0]); err != nil {
			return usageError("sleep", err)
		}
	}
	printStarted("sleep", start)
	ctx, stop := signalContext()
	defer stop()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	<-ctx.Done()
	return 0
}

// printStarted prints the line the e2e harness uses to learn when the
// workload's process really started (wall clock of the host: containers
// share the host's clock).
func printStarted(cmd string, start time.Time) {
	fmt.Printf("started %s at=%s pid=%d uid=%d\n", cmd, start.Format(time.RFC3339Nano), os.Getpid(), os.Getuid())
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments (the flag package stops at the first positional).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(os.Stderr)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func parsePorts(list string) ([]uint16, error) {
	if list == "" {
		return nil, nil
	}
	var ports []uint16
	for _, f := range strings.Split(list, ",") {
		p, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("bad port %q: %w", f, err)
		}
		ports = append(ports, uint16(p))
	}
	return ports, nil
}

func usageError(what string, err error) int {
	if err != nil {
		fmt.Fprintf(os.Stderr, "dcfw-testpeer: %s: %v\n", what, err)
	} else {
		fmt.Fprintf(os.Stderr, "dcfw-testpeer: %s\n", what)
	}
	fmt.Fprint(os.Stderr, usage)
	return testpeer.ExitUsage
}

func rawCmd(args []string) int {
	fs := flag.NewFlagSet("raw", flag.ContinueOnError)
	mark := fs.String("mark", "", "SO_MARK of the socket (decimal or 0x hex)")
	prio := fs.String("priority", "", "SO_PRIORITY of the socket")
	vlan := fs.Uint("vlan", 0, "add an 802.1Q tag with this VLAN ID")
	etherType := fs.String("ethertype", "", "ethertype of the frame instead of IPv4/IPv6")
	srcMAC := fs.String("src-mac", "", "source MAC (default: the interface's)")
	bypass := fs.Bool("qdisc-bypass", false, "send with PACKET_QDISC_BYPASS")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 4 {
		return usageError("raw wants IFACE DSTMAC SRC:PORT DST:PORT", err)
	}
	f := testpeer.RawFrame{Iface: pos[0], VLAN: uint16(*vlan), QdiscBypass: *bypass, Payload: []byte("dcfw-testpeer raw")}
	if f.DstMAC, err = net.ParseMAC(pos[1]); err != nil {
		return usageError("DSTMAC", err)
	}
	if f.Src, err = netip.ParseAddrPort(pos[2]); err != nil {
		return usageError("SRC:PORT", err)
	}
	if f.Dst, err = netip.ParseAddrPort(pos[3]); err != nil {
		return usageError("DST:PORT", err)
	}
	if *srcMAC != "" {
		if f.SrcMAC, err = net.ParseMAC(*srcMAC); err != nil {
			return usageError("--src-mac", err)
		}
	}
	num := func(s string, bits int) (uint64, error) { return strconv.ParseUint(s, 0, bits) }
	for _, o := range []struct {
		s   string
		dst **uint32
	}{{*mark, &f.Mark}, {*prio, &f.Priority}} {
		if o.s == "" {
			continue
		}
		v, err := num(o.s, 32)
		if err != nil {
			return usageError("--mark/--priority", err)
		}
		v32 := uint32(v)
		*o.dst = &v32
	}
	if *etherType != "" {
		v, err := num(*etherType, 16)
		if err != nil {
			return usageError("--ethertype", err)
		}
		f.EtherType = uint16(v)
	}
	switch err := testpeer.SendRaw(f); {
	case err == nil:
		fmt.Printf("sent iface=%s dst=%s\n", f.Iface, f.Dst)
		return 0
	case errors.Is(err, syscall.ENOBUFS):
		fmt.Printf("%s iface=%s dst=%s err=%q\n", testpeer.NotPermitted, f.Iface, f.Dst, err.Error())
		return testpeer.ExitNotPermitted
	default:
		fmt.Printf("%s err=%q\n", testpeer.Failed, err.Error())
		return testpeer.ExitFailed
	}
}

// defaultDNSAnswers is where dns keeps its answers (the test image has no
// /tmp; its root is writable).
const defaultDNSAnswers = "/dns-answers"

func dnsServe(start time.Time, args []string) int {
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	port := fs.Uint("port", 53, "UDP port")
	path := fs.String("answers", defaultDNSAnswers, "the answers file")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos)%3 != 0 || *port > 65535 {
		return usageError("dns takes NAME TTL ADDRS triples", err)
	}
	for i := 0; i < len(pos); i += 3 {
		name, a, err := testpeer.ParseDNSAnswer(pos[i : i+3])
		if err == nil {
			err = testpeer.SetDNSAnswer(*path, name, a)
		}
		if err != nil {
			return usageError("dns", err)
		}
	}
	printStarted("dns", start)
	srv, err := testpeer.ListenDNS(uint16(*port), *path, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dcfw-testpeer:", err)
		return testpeer.ExitFailed
	}
	fmt.Printf("ready dns=%s\n", srv.Addr())
	ctx, stop := signalContext()
	defer stop()
	srv.Serve(ctx)
	return 0
}

func dnsSet(args []string) int {
	fs := flag.NewFlagSet("dns-set", flag.ContinueOnError)
	path := fs.String("answers", defaultDNSAnswers, "the answers file")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 3 {
		return usageError("dns-set wants NAME TTL ADDRS", err)
	}
	name, a, err := testpeer.ParseDNSAnswer(pos)
	if err == nil {
		err = testpeer.SetDNSAnswer(*path, name, a)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dcfw-testpeer:", err)
		return testpeer.ExitFailed
	}
	fmt.Printf("set %s\n", name)
	return 0
}
