package e2e

import (
	"context"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"

	"github.com/dcfw/dcfw/internal/harness"
	"github.com/dcfw/dcfw/internal/testpeer"
	"github.com/dcfw/dcfw/netnsutil"
)

// These tests prove the harness without dcfw: if they fail, the controller
// tests built on the harness cannot be trusted either.

// TestInfraBridgeTraffic: every probe outcome, seen from inside real
// containers on a bridge network, and the firewall outcomes produced by
// hand-made nftables rules in the server's namespace.
func TestInfraBridgeTraffic(t *testing.T) {
	t.Parallel()
	h := harness.Setup(t)
	n := h.Bridge()
	srv := h.RunContainer(harness.ContainerSpec{Name: "srv", Network: n, Cmd: harness.ServeTCPUDP([]int{80}, []int{53})})
	cli := h.RunContainer(harness.ContainerSpec{Name: "cli", Network: n})

	if got := cli.Connect("tcp", srv.Addr(n, 80)); got != testpeer.Connected {
		t.Errorf("tcp to a served port: %v, want connected", got)
	}
	// The server saw the connection, from the client's address.
	srv.WaitForLog(`tcp accept from `+cli.IP(n).String()+`:\d+`, 5*time.Second)
	if got := cli.Connect("tcp", srv.Addr(n, 81)); got != testpeer.Refused {
		t.Errorf("tcp to a closed port: %v, want refused", got)
	}
	if got := cli.Connect("udp", srv.Addr(n, 53)); got != testpeer.Answered {
		t.Errorf("udp to a served port: %v, want answered", got)
	}
	if got := cli.Connect("udp", srv.Addr(n, 54)); got != testpeer.Refused {
		t.Errorf("udp to a closed port: %v, want refused", got)
	}
	if got := cli.Ping(srv.IP(n).String()); got != testpeer.Answered {
		t.Errorf("ping: %v, want answered", got)
	}

	// No dcfw table yet; then rules made by hand (the way tests tamper).
	if _, exists := srv.NftTable(); exists {
		t.Fatal("a fresh container already has table inet dcfw")
	}
	for _, cmd := range [][]string{
		{"add", "table", "inet", "dcfw"},
		{"add", "chain", "inet", "dcfw", "input", "{ type filter hook input priority filter; policy accept; }"},
		{"add", "rule", "inet", "dcfw", "input", "tcp", "dport", "80", "drop"},
		{"add", "rule", "inet", "dcfw", "input", "udp", "dport", "53", "reject"},
	} {
		if _, err := srv.Nft(cmd...); err != nil {
			t.Fatal(err)
		}
	}
	table, exists := srv.NftTable()
	if !exists || !strings.Contains(table, "tcp dport 80 drop") {
		t.Fatalf("NftTable after adding rules: exists=%v\n%s", exists, table)
	}
	if got := cli.Connect("tcp", srv.Addr(n, 80)); got != testpeer.TimedOut {
		t.Errorf("tcp dropped by the server's input hook: %v, want timeout", got)
	}
	if got := cli.Connect("udp", srv.Addr(n, 53)); got != testpeer.Refused {
		t.Errorf("udp rejected by the server's input hook: %v, want refused", got)
	}
	// The client's namespace is another one: its own output drop shows as
	// NotPermitted for UDP, at once.
	if _, err := cli.Nft("add", "table", "inet", "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Nft("add", "chain", "inet", "t", "output", "{ type filter hook output priority filter; policy drop; }"); err != nil {
		t.Fatal(err)
	}
	if got := cli.Connect("udp", srv.Addr(n, 53)); got != testpeer.NotPermitted {
		t.Errorf("udp dropped by the client's output hook: %v, want not-permitted", got)
	}
}

func TestInfraIPv6Bridge(t *testing.T) {
	t.Parallel()
	h := harness.Setup(t)
	n := h.CreateNetwork(harness.NetworkSpec{Label: "br6", IPv6: true})
	srv := h.RunContainer(harness.ContainerSpec{Name: "srv6", Network: n, Cmd: harness.Serve(80)})
	cli := h.RunContainer(harness.ContainerSpec{Name: "cli6", Network: n})
	if !srv.IP6(n).Is6() || !n.Subnet6.Contains(srv.IP6(n)) {
		t.Fatalf("server IPv6 %v not in %v", srv.IP6(n), n.Subnet6)
	}
	if got := cli.Connect("tcp", srv.Addr6(n, 80)); got != testpeer.Connected {
		t.Errorf("tcp over IPv6: %v, want connected", got)
	}
	if got := cli.Ping(srv.IP6(n).String()); got != testpeer.Answered {
		t.Errorf("ping6: %v, want answered", got)
	}
}

// TestInfraMacvlan: containers on one macvlan parent reach each other
// (bridge mode). The parent is the harness's isolated link, which is gone
// with the network when the subtest ends.
func TestInfraMacvlan(t *testing.T) {
	t.Parallel()
	var parent, netID string
	t.Run("traffic", func(t *testing.T) {
		h := harness.Setup(t)
		n := h.Macvlan()
		parent, netID = n.Parent, n.ID
		if _, err := netlink.LinkByName(parent); err != nil {
			t.Fatalf("parent link %s: %v", parent, err)
		}
		srv := h.RunContainer(harness.ContainerSpec{Name: "mvsrv", Network: n, Cmd: harness.Serve(80)})
		cli := h.RunContainer(harness.ContainerSpec{Name: "mvcli", Network: n})
		if got := cli.Connect("tcp", srv.Addr(n, 80)); got != testpeer.Connected {
			t.Errorf("tcp over macvlan: %v, want connected", got)
		}
		if got := cli.Connect("tcp", srv.Addr(n, 81)); got != testpeer.Refused {
			t.Errorf("tcp to a closed port over macvlan: %v, want refused", got)
		}
		// The container's interface is a macvlan on the parent.
		out := cli.Exec(harness.TestPeerPath, "connect", "tcp", srv.Addr(n, 80))
		if out.ExitCode != 0 {
			t.Errorf("exec connect: %+v", out)
		}
	})
	if parent == "" {
		return
	}
	// Cleanup ran at the end of the subtest.
	if _, err := netlink.LinkByName(parent); err == nil {
		t.Errorf("parent link %s still exists after the test", parent)
	}
	h := harness.Setup(t)
	ctx, cancel := h.Ctx()
	defer cancel()
	if _, err := h.Docker().NetworkInspect(ctx, netID, client.NetworkInspectOptions{}); !harness.IsNotFound(err) {
		t.Errorf("network %s still exists after the test (err %v)", netID, err)
	}
}

// TestInfraNetworkModes: shared namespaces, the host network, another user.
func TestInfraNetworkModes(t *testing.T) {
	t.Parallel()
	h := harness.Setup(t)
	n := h.Bridge()
	srv := h.RunContainer(harness.ContainerSpec{Name: "main", Network: n, Cmd: harness.Serve(80)})
	side := h.RunContainer(harness.ContainerSpec{Name: "side", ShareNetworkWith: srv})
	if srv.NetNS() != side.NetNS() {
		t.Errorf("--network container: namespaces differ: %v vs %v", srv.NetNS(), side.NetNS())
	}
	// Same namespace: the server is on the sidecar's loopback.
	if got := side.Connect("tcp", "127.0.0.1:80"); got != testpeer.Connected {
		t.Errorf("sidecar to loopback:80: %v, want connected", got)
	}

	hostNS, err := netnsutil.HostID("/proc")
	if err != nil {
		t.Fatal(err)
	}
	hostC := h.RunContainer(harness.ContainerSpec{Name: "hostnet", NetworkMode: "host"})
	if got := hostC.NetNS(); got != hostNS {
		t.Errorf("--network host: namespace %v, want the host's %v", got, hostNS)
	}
	if got := hostC.Inspect().HostConfig.NetworkMode; got != "host" {
		t.Errorf("network mode %q, want host", got)
	}

	user := h.RunContainer(harness.ContainerSpec{Name: "uid1000", Network: n, User: "1000", Cmd: harness.Serve(8080)})
	user.WaitForLog(`started serve at=\S+ pid=1 uid=1000`, 5*time.Second)
	if got := user.Connect("tcp", srv.Addr(n, 80)); got != testpeer.Connected {
		t.Errorf("connect as uid 1000: %v, want connected", got)
	}
	if got := srv.Connect("tcp", user.Addr(n, 8080)); got != testpeer.Connected {
		t.Errorf("connect to a server of uid 1000: %v, want connected", got)
	}
}

// TestInfraRestart: a restarted container has a new process in a fresh
// network namespace, at the same address.
//
// Be aware: the fresh namespace may have the SAME identity (nsfs inode) as
// the old one: the kernel frees the old namespace's inode number when it is
// destroyed and hands out the lowest free number to the next one (seen here
// on kernel 6.18: same net:[inode] after `docker restart`). A cache keyed by
// namespace identity must therefore not assume that an identity it has seen
// still holds the rules it wrote: the marker table below is gone.
func TestInfraRestart(t *testing.T) {
	t.Parallel()
	h := harness.Setup(t)
	n := h.Bridge()
	srv := h.RunContainer(harness.ContainerSpec{Name: "restart", Network: n, Cmd: harness.Serve(80)})
	cli := h.RunContainer(harness.ContainerSpec{Name: "cli", Network: n})
	pid, ns := srv.PID(), srv.NetNS()
	if _, err := srv.Nft("add", "table", "inet", "marker"); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	if srv.PID() == pid {
		t.Errorf("same PID %d after restart", pid)
	}
	if out, err := srv.Nft("list", "tables"); err != nil || strings.Contains(out, "marker") {
		t.Errorf("the namespace after restart is not fresh: tables %q (err %v)", out, err)
	}
	t.Logf("namespace before restart %v, after %v (identity reused: %v)", ns, srv.NetNS(), ns == srv.NetNS())
	if got := cli.Connect("tcp", srv.Addr(n, 80)); got != testpeer.Connected {
		t.Errorf("after restart: %v, want connected", got)
	}
	srv.Stop()
	if code := srv.WaitExit(10 * time.Second); code != 0 {
		t.Errorf("test peer exit code on stop: %d, want 0 (it handles SIGTERM)", code)
	}
}

// TestInfraStartAll: containers started together all run and serve.
func TestInfraStartAll(t *testing.T) {
	t.Parallel()
	h := harness.Setup(t)
	n := h.Bridge()
	var cs []*harness.Container
	for range 4 {
		cs = append(cs, h.CreateContainer(harness.ContainerSpec{Name: "many", Network: n, Cmd: harness.Serve(80)}))
	}
	h.StartAll(cs...)
	for i, c := range cs {
		peer := cs[(i+1)%len(cs)]
		if got := c.Connect("tcp", peer.Addr(n, 80)); got != testpeer.Connected {
			t.Errorf("%s to %s: %v, want connected", c, peer, got)
		}
	}
}

// TestInfraFirstConnect: the first-connect command reports its outcome in
// the logs and stays up.
func TestInfraFirstConnect(t *testing.T) {
	t.Parallel()
	h := harness.Setup(t)
	n := h.Bridge()
	srv := h.RunContainer(harness.ContainerSpec{Name: "target", Network: n, Cmd: harness.Serve(80)})
	open := h.RunContainer(harness.ContainerSpec{Name: "fc-open", Network: n, Cmd: harness.FirstConnect("tcp", srv.Addr(n, 80), 2*time.Second)})
	closed := h.RunContainer(harness.ContainerSpec{Name: "fc-closed", Network: n, Cmd: harness.FirstConnect("tcp", srv.Addr(n, 81), 2*time.Second)})
	if got := open.FirstConnectOutcome(10 * time.Second); !strings.HasPrefix(got, "connected ") {
		t.Errorf("first connect to a served port: %q", got)
	}
	if got := closed.FirstConnectOutcome(10 * time.Second); !strings.HasPrefix(got, "refused ") {
		t.Errorf("first connect to a closed port: %q", got)
	}
	if st := open.Inspect().State; !st.Running {
		t.Errorf("first-connect container stopped after reporting: %+v", st)
	}
}

// TestInfraProcess: the subprocess machinery StartDcfw uses, exercised
// with the test peer binary (dcfw itself is tested by the controller tests).
func TestInfraProcess(t *testing.T) {
	t.Parallel()
	h := harness.Setup(t)
	peer := h.BuildBinary(harness.TestPeerPackage)
	p := h.StartProcess(nil, peer, "serve", "--tcp", "0")
	mark := p.Mark()
	line := p.WaitForLog(`^ready tcp=`, 10*time.Second)
	if !strings.HasPrefix(line, "ready tcp=") {
		t.Errorf("WaitForLog returned %q, want the whole matching line", line)
	}
	if _, err := p.TryWaitForLog(mark, `never printed`, 100*time.Millisecond); err == nil {
		t.Error("TryWaitForLog found a line that was never printed")
	}
	if code := p.Stop(); code != 0 {
		t.Errorf("exit code after SIGTERM: %d, want 0", code)
	}
	// A process that exits by itself: Wait returns its code, and waiting
	// for a log line it never printed ends at its exit, not at the timeout.
	q := h.StartProcess(nil, peer, "connect", "tcp", "bad address")
	if code := q.Wait(10 * time.Second); code != testpeer.ExitFailed {
		t.Errorf("exit code %d, want %d; output %q", code, testpeer.ExitFailed, q.Log())
	}
	start := time.Now()
	if _, err := q.TryWaitForLog(0, `never printed`, time.Minute); err == nil || time.Since(start) > 30*time.Second {
		t.Errorf("TryWaitForLog on an exited process: %v after %s", err, time.Since(start))
	}
}

// TestInfraBuildImage: images for other programs (dcfw's own, in the
// deployment tests) build the same way as the test image, without a
// registry.
func TestInfraBuildImage(t *testing.T) {
	t.Parallel()
	h := harness.Setup(t)
	bin, err := os.ReadFile(h.BuildBinary(harness.TestPeerPackage))
	if err != nil {
		t.Fatal(err)
	}
	img := h.BuildImage("custom",
		harness.ImageFile{Name: "Dockerfile", Content: []byte("FROM scratch\nCOPY peer /peer\nENTRYPOINT [\"/peer\", \"sleep\"]\n")},
		harness.ImageFile{Name: "peer", Mode: 0o755, Content: bin})
	c := h.RunContainer(harness.ContainerSpec{Name: "custom", Image: img, NetworkMode: "none"})
	c.WaitForLog(`started sleep`, 10*time.Second)
	// A Dockerfile error is reported, not swallowed by the 200 response.
	if _, err := h.TryBuildImage("broken", harness.ImageFile{Name: "Dockerfile", Content: []byte("FROM scratch\nCOPY missing /missing\n")}); err == nil {
		t.Error("a build whose COPY source is missing succeeded")
	}
}

// TestInfraSubnets: test subnets avoid the host's routes and each other.
func TestInfraSubnets(t *testing.T) {
	t.Parallel()
	h := harness.Setup(t)
	a, b := h.Bridge(), h.Bridge()
	if a.Subnet.Overlaps(b.Subnet) {
		t.Errorf("two networks share %v / %v", a.Subnet, b.Subnet)
	}
	for _, n := range []*harness.Network{a, b} {
		if !harness.TestNet4.Contains(n.Subnet.Addr()) {
			t.Errorf("subnet %v outside %v", n.Subnet, harness.TestNet4)
		}
	}
	if got, want := harness.HostAddr(netip.MustParsePrefix("10.231.7.0/24"), 64), netip.MustParseAddr("10.231.7.64"); got != want {
		t.Errorf("hostAddr = %v, want %v", got, want)
	}
	if got, want := harness.HostAddr(netip.MustParsePrefix("fd00:dcf:0:7::/64"), 300), netip.MustParseAddr("fd00:dcf:0:7::12c"); got != want {
		t.Errorf("hostAddr6 = %v, want %v", got, want)
	}
}

// TestInfraSweep: leftovers of a dead run are removed, those of a live run
// are not.
func TestInfraSweep(t *testing.T) {
	t.Parallel()
	h := harness.Setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), harness.APITimeout)
	defer cancel()
	mk := func(pid string) string {
		res, err := h.Docker().NetworkCreate(ctx, h.UniqueName("sweep"), client.NetworkCreateOptions{
			Driver: "bridge", Internal: true,
			Labels: map[string]string{harness.LabelRun: "sweeptest", harness.LabelPID: pid},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.RemoveNetwork(res.ID) })
		return res.ID
	}
	dead, live := mk(deadPID(t)), mk("1")
	mkdir := func(pid string) string {
		d, err := os.MkdirTemp("", harness.TmpDirPrefix+"5eed-pid"+pid+"-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	deadDir, liveDir := mkdir(deadPID(t)), mkdir("1")
	harness.SweepLeftovers(h.Docker())
	if _, err := os.Stat(deadDir); !os.IsNotExist(err) {
		t.Errorf("temporary directory of a dead run survived the sweep (err %v)", err)
	}
	if _, err := os.Stat(liveDir); err != nil {
		t.Errorf("temporary directory of a live run was swept: %v", err)
	}
	if _, err := h.Docker().NetworkInspect(ctx, dead, client.NetworkInspectOptions{}); !harness.IsNotFound(err) {
		t.Errorf("network of a dead run survived the sweep (err %v)", err)
	}
	if _, err := h.Docker().NetworkInspect(ctx, live, client.NetworkInspectOptions{}); err != nil {
		t.Errorf("network of a live run was swept: %v", err)
	}
}

// deadPID returns a PID with no process: one of a child that has exited
// and been reaped.
func deadPID(t *testing.T) string {
	t.Helper()
	pid, err := syscall.ForkExec("/bin/true", []string{"true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(pid)
}
