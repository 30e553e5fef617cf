package e2e

// End-to-end tests with a real attacker: a labelled container that does
// what Docker's default capabilities let it, and connections that were
// open before dcfw wrote any rule. Each checks first that, without dcfw,
// the traffic arrives, so that what is missing later is dcfw's doing.

import (
	"fmt"
	"github.com/dcfw/dcfw/internal/harness"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawVariant is one kind of frame the attacker sends past the IP stack. Each
// carries its own source MAC, which a counter in the listener's namespace
// matches: a VLAN-tagged frame never reaches a socket there, but it reaches
// the interface.
type rawVariant struct {
	name   string
	srcMAC string
	v6     bool
	args   []string
}

var rawVariants = []rawVariant{
	{"ipv4", "02:dc:f0:00:00:01", false, nil},
	{"so_mark", "02:dc:f0:00:00:02", false, []string{"--mark", "0xdcf"}},
	{"so_priority", "02:dc:f0:00:00:03", false, []string{"--priority", "6"}},
	{"vlan", "02:dc:f0:00:00:04", false, []string{"--vlan", "10"}},
	{"ipv6", "02:dc:f0:00:00:05", true, nil},
}

// rawSends is how many frames of each variant one round sends.
const rawSends = 3

func TestHostileRawFramesStayIn(t *testing.T) {
	h := harness.Setup(t)
	n := h.CreateNetwork(harness.NetworkSpec{Label: "raw", IPv6: true})
	listener := h.RunContainer(harness.ContainerSpec{Name: "listener", Network: n, Cmd: harness.ServeTCPUDP(nil, []int{5353})})
	attacker := h.RunContainer(harness.ContainerSpec{
		Name: "attacker", Network: n, Cmd: harness.Sleep(),
		Labels: labels("dcfw.enable=true", "dcfw.output.policy=deny"),
	})
	installFrameCounters(t, listener)
	dstMAC := net.HardwareAddr(listener.Endpoint(n).MacAddress).String()

	send := func(round string) {
		t.Helper()
		for _, v := range rawVariants {
			src := net.JoinHostPort(attacker.IP(n).String(), "40000")
			dst := listener.Addr(n, 5353)
			if v.v6 {
				src, dst = net.JoinHostPort(attacker.IP6(n).String(), "40000"), listener.Addr6(n, 5353)
			}
			cmd := append([]string{harness.TestPeerPath, "raw", "eth0", dstMAC, src, dst, "--src-mac", v.srcMAC}, v.args...)
			for range rawSends {
				r := attacker.Exec(cmd...)
				// 13: the kernel dropped the frame on its way out (dcfw's
				// egress chain); anything else but 0 is a broken test.
				if r.ExitCode != 0 && (round == "control" || r.ExitCode != 13) {
					t.Fatalf("%s: raw %s: exit %d: %s%s", round, v.name, r.ExitCode, r.Stdout, r.Stderr)
				}
			}
		}
	}

	send("control")
	time.Sleep(200 * time.Millisecond)
	before := frameCounts(t, listener)
	for _, v := range rawVariants {
		if before[v.srcMAC] < rawSends {
			t.Fatalf("control (no dcfw): %d of %d %s frames reached the listener; the test setup is broken", before[v.srcMAC], rawSends, v.name)
		}
	}
	datagrams := strings.Count(listener.Logs(), "udp from "+attacker.IP(n).String())
	if datagrams < rawSends {
		t.Fatalf("control: the listener logged %d raw IPv4 datagrams, want at least %d", datagrams, rawSends)
	}
	t.Logf("control: frames per variant %v, IPv4 datagrams logged %d", before, datagrams)

	p := startDcfw(h)
	waitProtected(p, 0, attacker)
	send("attack")
	time.Sleep(500 * time.Millisecond)
	after := frameCounts(t, listener)
	for _, v := range rawVariants {
		if got := after[v.srcMAC] - before[v.srcMAC]; got != 0 {
			t.Errorf("with dcfw: %d %s frames of the denied container reached the listener, want 0", got, v.name)
		}
	}
	if got := strings.Count(listener.Logs(), "udp from "+attacker.IP(n).String()); got != datagrams {
		t.Errorf("with dcfw: the listener logged %d more datagrams from the attacker, want 0", got-datagrams)
	}
	t.Logf("with dcfw: frames per variant %v (before %v)", after, before)
}

// installFrameCounters puts a counter per raw variant on the ingress of
// the listener's eth0 (a table of the test's own, beside anything dcfw
// would write).
func installFrameCounters(t *testing.T, c *harness.Container) {
	t.Helper()
	script := "table netdev e2e_probe {\n chain in {\n  type filter hook ingress device eth0 priority 0;\n"
	for _, v := range rawVariants {
		script += fmt.Sprintf("  ether saddr %s counter\n", v.srcMAC)
	}
	script += " }\n}\n"
	path := t.TempDir() + "/probe.nft"
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Nft("-f", path); err != nil {
		t.Fatalf("install frame counters in %s: %v %s", c.Name, err, out)
	}
}

var counterRe = regexp.MustCompile(`ether saddr ([0-9a-f:]{17}) counter packets (\d+)`)

// frameCounts reads the counters by source MAC.
func frameCounts(t *testing.T, c *harness.Container) map[string]int {
	t.Helper()
	out, err := c.Nft("list", "chain", "netdev", "e2e_probe", "in")
	if err != nil {
		t.Fatalf("read frame counters: %v", err)
	}
	got := map[string]int{}
	for _, m := range counterRe.FindAllStringSubmatch(out, -1) {
		got[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(got) != len(rawVariants) {
		t.Fatalf("frame counters: found %d of %d in:\n%s", len(got), len(rawVariants), out)
	}
	return got
}

// TestHostileOpenConnectionsRedecided: connections opened before dcfw ran
// are decided by the rules dcfw then writes: a denied one stops carrying
// data, an allowed one goes on.
func TestHostileOpenConnectionsRedecided(t *testing.T) {
	h := harness.Setup(t)
	n := h.Bridge()
	sink := h.RunContainer(harness.ContainerSpec{Name: "sink", Network: n, Cmd: []string{"serve", "--stream", "7000,7001"}})
	denied := h.RunContainer(harness.ContainerSpec{
		Name: "denied", Network: n, Cmd: []string{"stream", sink.Addr(n, 7000), "--every", "50ms"},
		Labels: labels("dcfw.enable=true", "dcfw.output.policy=deny"),
	})
	allowed := h.RunContainer(harness.ContainerSpec{
		Name: "allowed", Network: n, Cmd: []string{"stream", sink.Addr(n, 7001), "--every", "50ms"},
		Labels: labels("dcfw.enable=true", "dcfw.output.policy=deny",
			"dcfw.output.rule.1=allow proto tcp to "+sink.IP(n).String()+" port 7001"),
	})
	lines := func(c *harness.Container) int {
		re := regexp.MustCompile(`(?m)^stream from ` + regexp.QuoteMeta(c.IP(n).String()) + `:\d+: seq \d+$`)
		return len(re.FindAllString(sink.Logs(), -1))
	}
	sink.WaitForLog(`stream from `+regexp.QuoteMeta(denied.IP(n).String())+`:\d+: seq 5$`, harness.ReadyTimeout)
	sink.WaitForLog(`stream from `+regexp.QuoteMeta(allowed.IP(n).String())+`:\d+: seq 5$`, harness.ReadyTimeout)

	p := startDcfw(h)
	waitProtected(p, 0, denied)
	waitProtected(p, 0, allowed)
	// What was in flight when the rules came is through by now.
	time.Sleep(time.Second)
	d1, a1 := lines(denied), lines(allowed)
	time.Sleep(2 * time.Second)
	d2, a2 := lines(denied), lines(allowed)
	t.Logf("lines at the sink: denied %d → %d, allowed %d → %d", d1, d2, a1, a2)
	if d2 != d1 {
		t.Errorf("the denied container's connection, opened before dcfw, carried %d more lines after its output deny, want 0", d2-d1)
	}
	// 2 s at one line per 50 ms: 40; half of it is plenty on a loaded machine.
	if a2-a1 < 20 {
		t.Errorf("the allowed container's connection carried %d lines in 2s, want it to flow (~40)", a2-a1)
	}
	if strings.Contains(allowed.Logs(), "stream error") {
		t.Errorf("the allowed stream failed:\n%s", allowed.Logs())
	}
}

// TestHostileImageLabelsLockedDown: an image that brings its own allow
// rule (Docker merges image LABELs into the container's labels) does not
// open a container whose deployer asked for an output deny: dcfw locks it
// down and names the label, both for a container that ran before dcfw
// (the PID path) and one that starts while it runs (the sandbox path, whose
// first connect must not pass either). Restated by the deployer with
// another spelling, the rule is the deployer's and applies.
func TestHostileImageLabelsLockedDown(t *testing.T) {
	h := harness.Setup(t)
	n := h.Bridge()
	image := h.BuildImage("sneaky", harness.ImageFile{Name: "Dockerfile",
		Content: []byte("FROM " + h.TestImage() + "\nLABEL dcfw.output.rule.0=\"allow\"\n")})
	listener := h.RunContainer(harness.ContainerSpec{Name: "listener", Network: n, Cmd: harness.Serve(80)})
	deny := labels("dcfw.enable=true", "dcfw.output.policy=deny")
	sneaky := h.RunContainer(harness.ContainerSpec{Name: "sneaky", Image: image, Network: n, Cmd: harness.Sleep(), Labels: deny})
	restated := h.RunContainer(harness.ContainerSpec{Name: "restated", Image: image, Network: n, Cmd: harness.Sleep(),
		Labels: labels("dcfw.enable=true", "dcfw.output.policy=deny", "dcfw.output.rule.0=Allow")})
	flows := []flow{
		{sneaky, "tcp", listener.Addr(n, 80), false, "output deny, allow rule from the image"},
		{restated, "tcp", listener.Addr(n, 80), true, "allow rule restated by the deployer"},
	}
	checkAllPass(t, flows)
	if got := sneaky.Inspect().Config.Labels["dcfw.output.rule.0"]; got != "allow" {
		t.Fatalf("the engine did not merge the image's label into the container's: %q", got)
	}

	p := startDcfw(h)
	line := p.WaitForLog(logLine("ERROR", "invalid dcfw labels; container locked down: only loopback traffic passes until the labels are fixed", sneaky), protectTimeout)
	if !strings.Contains(line, "dcfw.output.rule.0") || !strings.Contains(line, "image") {
		t.Errorf("the error does not name the label and the image: %s", line)
	}
	waitProtected(p, 0, restated)
	checkFlows(t, flows)

	// Started while dcfw runs: the rules before its first packet must not
	// be weaker than the PID path's.
	mark := p.Mark()
	late := h.RunContainer(harness.ContainerSpec{Name: "late", Image: image, Network: n, Labels: deny,
		Cmd: harness.FirstConnect("tcp", listener.Addr(n, 80), 2*time.Second)})
	report := late.FirstConnectOutcome(30 * time.Second)
	if !strings.HasPrefix(report, "timeout") && !strings.HasPrefix(report, "not-permitted") {
		t.Errorf("late container's first connect: %s; want it blocked", report)
	}
	pline := waitProtected(p, mark, late)
	t.Logf("late container: first connect %s; %s", report, pline)
}

// TestHostileOwnPrivileges: a labelled container with NET_ADMIN could
// change its own rules; dcfw says so (risk and fix), and with --strict
// locks it down.
func TestHostileOwnPrivileges(t *testing.T) {
	h := harness.Setup(t)
	n := h.Bridge()
	listener := h.RunContainer(harness.ContainerSpec{Name: "listener", Network: n, Cmd: harness.Serve(80)})
	admin := h.RunContainer(harness.ContainerSpec{Name: "admin", Network: n, Cmd: harness.Sleep(), CapAdd: []string{"cap_net_admin"},
		Labels: labels("dcfw.enable=true", "dcfw.output.policy=allow")})
	flows := []flow{{admin, "tcp", listener.Addr(n, 80), true, "output allow"}}
	checkAllPass(t, flows)

	p := startDcfw(h)
	line := p.WaitForLog(logLine("WARN", "the container can change its own firewall rules", admin), protectTimeout)
	for _, want := range []string{"CAP_NET_ADMIN", `"risk"`, "drop the capability"} {
		if !strings.Contains(line, want) {
			t.Errorf("warning lacks %s: %s", want, line)
		}
	}
	waitProtected(p, 0, admin)
	checkFlows(t, flows)
	p.Stop()

	strict := startDcfw(h, "--strict")
	strict.WaitForLog(logLine("ERROR", "the container can change its own firewall rules; locked down (--strict): only loopback traffic passes", admin), protectTimeout)
	strict.WaitForLog(`INFO\s+protection changed\s+\{"container": "`+regexp.QuoteMeta(admin.Name)+`".*"mode": "lockdown"`, protectTimeout)
	checkFlows(t, []flow{{admin, "tcp", listener.Addr(n, 80), false, "--strict: locked down"}})
}

// TestHostileUnrepairableTable: a container with NET_ADMIN that made a
// table of dcfw's name first, owned by its own netlink socket, keeps dcfw
// out: dcfw cannot stop that, but says so at error level in every cycle.
func TestHostileUnrepairableTable(t *testing.T) {
	h := harness.Setup(t)
	n := h.Bridge()
	squatter := h.RunContainer(harness.ContainerSpec{Name: "squatter", Network: n, Cmd: []string{"own-table"},
		CapAdd: []string{"NET_ADMIN"}, Labels: labels("dcfw.enable=true", "dcfw.output.policy=deny")})
	squatter.WaitForLog(`^owned inet dcfw$`, harness.ReadyTimeout)

	p := startDcfw(h)
	const msg = "cannot write the namespace's rules: they differ from what its labels say and the namespace is NOT protected as labelled; retrying next cycle (logged every cycle)"
	re := regexp.MustCompile(logLine("ERROR", msg, squatter))
	deadline := time.Now().Add(protectTimeout)
	for len(re.FindAllString(p.Log(), -1)) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("want the failed repair logged in 3 cycles (interval %s), got %d; log:\n%s",
				dcfwInterval, len(re.FindAllString(p.Log(), -1)), p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	line := p.WaitForLog(logLine("ERROR", msg, squatter)+".*$", time.Second)
	if !strings.Contains(line, "flags owner") {
		t.Errorf("the error does not show the difference: %s", line)
	}
	t.Logf("%s", line)
}
