package harness

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/netnsutil"
)

// The table dcfw owns in every managed namespace (see go doc ./nft).
const (
	DcfwTableFamily = "inet"
	DcfwTableName   = "dcfw"
)

// nftTimeout bounds one run of the nft binary.
const nftTimeout = 30 * time.Second

// Nft runs the nft binary inside the container's network namespace
// (`nsenter -t <pid> -n nft args...`) and returns its standard output, or
// an error carrying its standard error. For tests only: dcfw itself never
// runs nft; tests use it to read rules back and to tamper with them.
func (c *Container) Nft(args ...string) (string, error) {
	c.h.t.Helper()
	return runNft(c.h.t, c.PID(), args...)
}

// NftTable returns `nft list table inet dcfw` inside the container's
// namespace, and whether the table exists at all. The per-namespace
// secrets are shown as the compiled table renders them (NormalizeSecrets),
// so that it compares with nft.Table.String and across rewrites.
func (c *Container) NftTable() (ruleset string, exists bool) {
	c.h.t.Helper()
	out, err := c.Nft("list", "table", DcfwTableFamily, DcfwTableName)
	if err == nil {
		return NormalizeSecrets(out), true
	}
	if strings.Contains(err.Error(), "No such file or directory") {
		return "", false
	}
	c.h.t.Fatalf("nft list table in %s: %v", c.Name, err)
	return "", false
}

// NetNS returns the identity (device and inode) of the container's network
// namespace: equal for containers that share one.
func (c *Container) NetNS() netnsutil.ID {
	c.h.t.Helper()
	ns, err := netnsutil.OpenPID("/proc", c.PID())
	if err != nil {
		c.h.t.Fatalf("open network namespace of %s: %v", c.Name, err)
	}
	defer ns.Close()
	return ns.ID()
}

// HostNftRuleset returns `nft list ruleset` of the host's own namespace.
//
// Be aware: Docker 20.10 on Debian 12 programs its iptables rules through
// iptables-nft, so the host's ruleset changes whenever any network or
// container with published ports comes or goes, test harness ones included.
// A test comparing two snapshots must make sure nothing else changed the
// engine's state in between (or compare only what dcfw could have touched).
func HostNftRuleset(t testing.TB) string {
	t.Helper()
	out, err := runNft(t, 0, "list", "ruleset")
	if err != nil {
		t.Fatalf("nft list ruleset on the host: %v", err)
	}
	return out
}

// runNft runs nft in the network namespace of pid (0: this process's).
func runNft(t testing.TB, pid int, args ...string) (string, error) {
	t.Helper()
	argv := append([]string{"nft"}, args...)
	if pid != 0 {
		argv = append([]string{"nsenter", "-t", strconv.Itoa(pid), "-n", "--"}, argv...)
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("needs %s (apt-get install nftables util-linux): %v", argv[0], err))
	}
	if _, err := exec.LookPath("nft"); err != nil {
		testenv.SkipOrFail(t, "needs nft (apt-get install nftables): "+err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), nftTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &commandError{argv: argv, err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return stdout.String(), nil
}

type commandError struct {
	argv   []string
	err    error
	stderr string
}

func (e *commandError) Error() string {
	return fmt.Sprintf("%s: %v: %s", strings.Join(e.argv, " "), e.err, e.stderr)
}

func (e *commandError) Unwrap() error { return e.err }

var (
	connMarkRe = regexp.MustCompile(`ct mark (set )?0x[0-9a-f]{8}\b`)
	stampRe    = regexp.MustCompile(`meta mark set 0x[0-9a-f]{8} meta priority set [0-9a-f]+:[0-9a-f]+`)
)

// NormalizeSecrets replaces the values dcfw draws at random per namespace
// (the conntrack mark of accepted connections, the raw-frame stamp) with
// the names nft.Table.String gives them.
func NormalizeSecrets(table string) string {
	table = connMarkRe.ReplaceAllString(table, "ct mark ${1}$$conn_mark")
	return stampRe.ReplaceAllString(table, "meta mark set $$raw_mark meta priority set $$raw_priority")
}
