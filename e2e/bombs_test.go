package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dcfw/dcfw/bench"
	"github.com/dcfw/dcfw/internal/harness"
	"github.com/dcfw/dcfw/internal/testpeer"
	"github.com/dcfw/dcfw/nft"
)

// bombRSSLimit is what dcfw may hold resident with label bombs present.
const bombRSSLimit = 100 << 20

// TestLabelBombs: two labelled containers carry label bombs (one rule
// label of ~48 KB of tokens that do not parse, and 400 rules each listing
// 16 addresses and 16 ports, over 100,000 kernel rules), as an image's
// labels could. dcfw locks both down within one interval, stays under
// 100 MB resident, and a normal container started beside them is still
// protected before its first packet.
func TestLabelBombs(t *testing.T) {
	h := harness.Setup(t)
	n := h.Bridge()
	listener := h.RunContainer(harness.ContainerSpec{Name: "listener", Network: n, Cmd: harness.Serve(9002)})

	bad := strings.Repeat("frm ", 12000) // ~48 KB
	garbage := labels("dcfw.enable=true", "dcfw.input.rule.1=allow "+bad)
	big := labels("dcfw.enable=true")
	var addrs, ports []string
	for i := range 16 {
		addrs = append(addrs, fmt.Sprintf("10.77.%d.1", i))
		ports = append(ports, strconv.Itoa(1000+i))
	}
	for i := range 400 {
		big[fmt.Sprintf("dcfw.input.rule.%d", i)] = fmt.Sprintf("allow proto tcp from %s to any port %s", strings.Join(addrs, ","), strings.Join(ports, ","))
	}
	bombs := []*harness.Container{
		h.RunContainer(harness.ContainerSpec{Name: "garbage", Network: n, Labels: garbage, Cmd: harness.Sleep()}),
		h.RunContainer(harness.ContainerSpec{Name: "big", Network: n, Labels: big, Cmd: harness.Sleep()}),
	}

	p := startDcfw(h)
	started := time.Now()
	p.WaitForLog(`INFO\s+initial reconcile`, protectTimeout)
	for _, c := range bombs {
		waitProtected(p, 0, c)
		if got, want := expectTable(t, c), inetTable(nft.Lockdown(c.ID)); got != want {
			t.Errorf("%s is not locked down:\n%s\nwant:\n%s\ndiff:\n%s", c.Name, got, want, lineDiff(want, got))
		}
	}
	if d := time.Since(started); d > 2*dcfwInterval {
		t.Errorf("the bombs were locked down after %s, more than an interval after dcfw started", d)
	}

	// A normal container beside them: its first connect is blocked.
	mark := p.Mark()
	c := h.RunContainer(harness.ContainerSpec{Name: "normal", Network: n, Labels: labels("dcfw.enable=true", "dcfw.output.policy=deny"),
		Cmd: harness.FirstConnect("tcp", listener.Addr(n, 9002), firstConnectTimeout)})
	report := c.FirstConnectOutcome(outcomeTimeout)
	word, _, _ := strings.Cut(report, " ")
	if o, err := testpeer.ParseOutcome(word); err != nil || o.Passed() || o == testpeer.Failed {
		t.Errorf("the normal container's first connect to a forbidden listener: %s", report)
	}
	line := waitProtected(p, mark, c)
	t.Logf("normal container beside the bombs: %s", parseProtection(t, line).path)

	// A few more cycles with the bombs, then dcfw's memory.
	time.Sleep(3 * dcfwInterval)
	m, err := bench.ReadMemory(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED dcfw with both bombs: VmRSS %s, VmHWM %s", bench.MB(m.RSS), bench.MB(m.HWM))
	if m.HWM > bombRSSLimit {
		t.Errorf("dcfw's peak resident memory %s is over %d MB", bench.MB(m.HWM), bombRSSLimit>>20)
	}
	if k := strings.Count(p.LogSince(0), "kernel rules"); k > 4 {
		t.Errorf("the too-large policy was logged %d times; want once per change", k)
	}
}
