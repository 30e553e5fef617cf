package e2e

// End-to-end tests of names in rules: a compose project whose services
// name each other (web → db, db ← web), a db recreated with a new address,
// a DNS name served by a DNS server of the test's own with a TTL and a
// changing answer, and names that do not resolve. They run with
// `docker compose` where the engine's CLI has it and with Debian's
// docker-compose 1.29 otherwise.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/dcfw/dcfw/internal/harness"
	"github.com/dcfw/dcfw/names"
)

// Timeouts of the names tests: bounds on waits, not assertions, except
// where a test says so.
const (
	// nameChangeTimeout: from an answer's change until dcfw's sets follow
	// (the next interval, 1 s; the bound is for a loaded machine).
	nameChangeTimeout = 20 * time.Second
	// composeTimeout bounds one compose command.
	composeTimeout = 3 * time.Minute
	// dnsTTL is the TTL the test's DNS server gives: longer than
	// names.MinRetention (30 s), so that what keeps the old address is
	// the TTL, not the minimum.
	dnsTTL = 40 * time.Second
	// startToReachable is the property under test: a recreated service is
	// reachable by name within this time of its start event.
	startToReachable = time.Second
)

// composeCommand returns the compose command line: DCFW_E2E_COMPOSE when
// set (e.g. "docker-compose", to try v1 where both are installed), else
// `docker compose` when the engine's CLI has the plugin, else
// docker-compose (v1).
func composeCommand(t *testing.T) []string {
	t.Helper()
	if c := strings.Fields(os.Getenv("DCFW_E2E_COMPOSE")); len(c) > 0 {
		return c
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	t.Fatal("neither `docker compose` nor docker-compose is installed")
	return nil
}

// composeProject is a compose project of one test, taken down when the
// test ends.
type composeProject struct {
	h       *harness.Harness
	cmd     []string
	name    string
	file    string
	env     []string
	network *harness.Network
}

// newComposeProject writes spec (a compose file, as JSON, which is YAML)
// and takes the project down in the test's cleanup.
func newComposeProject(h *harness.Harness, n *harness.Network, spec map[string]any) *composeProject {
	t := h.T()
	t.Helper()
	p := &composeProject{h: h, cmd: composeCommand(t), name: h.UniqueName("names"), network: n}
	dir := filepath.Join(h.TempDir(), p.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p.file = filepath.Join(dir, "docker-compose.yml")
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := p.run("down", "--timeout", "1"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	return p
}

// run runs one compose command of the project.
func (p *composeProject) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), composeTimeout)
	defer cancel()
	full := append(append(p.cmd[1:len(p.cmd):len(p.cmd)], "-p", p.name, "-f", p.file), args...)
	cmd := exec.CommandContext(ctx, p.cmd[0], full...)
	cmd.Env = append(os.Environ(), p.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *composeProject) mustRun(args ...string) {
	t := p.h.T()
	t.Helper()
	if out, err := p.run(args...); err != nil {
		t.Fatalf("compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// service returns the running container of a service (compose names it
// project_service_1 in v1, project-service-1 in v2: asked by label).
func (p *composeProject) service(name string) *harness.Container {
	t := p.h.T()
	t.Helper()
	ctx, cancel := p.h.Ctx()
	defer cancel()
	res, err := p.h.Docker().ContainerList(ctx, client.ContainerListOptions{Filters: make(client.Filters).
		Add("label", "com.docker.compose.project="+p.name).
		Add("label", "com.docker.compose.service="+name).
		Add("status", "running")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 {
		t.Fatalf("service %s: %d running containers, want 1", name, len(res.Items))
	}
	return p.h.Adopt(res.Items[0].ID, strings.TrimPrefix(res.Items[0].Names[0], "/"))
}

// namesService is one service of the test's compose files: the test
// peer image on the test's network, with the run's labels (so dcfw, scoped
// to the run, manages it, and a killed run's leftovers are swept).
func namesService(h *harness.Harness, n *harness.Network, ip string, cmd []string, lbls map[string]string, dns ...string) map[string]any {
	svc := map[string]any{
		"image":    h.TestImage(),
		"command":  cmd,
		"labels":   h.Labels(lbls),
		"networks": map[string]any{"testnet": map[string]any{"ipv4_address": ip}},
	}
	if len(dns) > 0 {
		svc["dns"] = dns
	}
	return svc
}

// mustLogTime is the time stamp of one of dcfw's log lines.
func mustLogTime(t *testing.T, line string) time.Time {
	t.Helper()
	at, ok := logTime(line)
	if !ok {
		t.Fatalf("log line without a time stamp: %q", line)
	}
	return at
}

// nameChangeLine is the pattern of dcfw's line about a name's addresses of
// container c that changed: which (added or removed) and the address.
func nameChangeLine(c *harness.Container, name, which string, addr netip.Addr) string {
	return `INFO\s+addresses of a name changed\s+\{"container": "` + regexp.QuoteMeta(c.Name) + `".*"name": "` +
		regexp.QuoteMeta(name) + `".*"` + which + `": \[[^]]*"` + regexp.QuoteMeta(addr.String()) + `"`
}

// setHas reports whether set in c's dcfw table holds addr.
func setHas(t *testing.T, c *harness.Container, set string, addr netip.Addr) bool {
	t.Helper()
	table := expectTable(t, c)
	i := strings.Index(table, "set "+set+" {")
	if i < 0 {
		t.Fatalf("%s's table has no set %s:\n%s", c.Name, set, table)
	}
	body := table[i:]
	body = body[:strings.Index(body, "}")]
	return regexp.MustCompile(`[ {,]` + regexp.QuoteMeta(addr.String()) + `[ ,}\n]`).MatchString(body + "\n")
}

func TestNamesCompose(t *testing.T) {
	h := harness.Setup(t)
	n := h.Bridge()
	var (
		dnsIP  = n.Addr(53)
		dbIP   = n.Addr(30)
		dbIP2  = n.Addr(31)
		webIP  = n.Addr(10)
		apiA   = n.Addr(41)
		apiB   = n.Addr(42)
		webDNS = "dcfw.output.rule.3=allow proto udp to " + dnsIP.String() + " port 53"
	)
	// The DNS server of the test, and the hosts its name points at.
	dns := h.RunContainer(harness.ContainerSpec{Name: "dns", Network: n, IPv4: dnsIP,
		Cmd: []string{"dns", "api.test", fmt.Sprint(int(dnsTTL / time.Second)), apiA.String()}})
	dns.WaitForLog(`^ready dns=`, harness.ReadyTimeout)
	a := h.RunContainer(harness.ContainerSpec{Name: "api-a", Network: n, IPv4: apiA, Cmd: harness.Serve(443)})
	b := h.RunContainer(harness.ContainerSpec{Name: "api-b", Network: n, IPv4: apiB, Cmd: harness.Serve(443)})
	other := h.RunContainer(harness.ContainerSpec{Name: "other", Network: n, IPv4: n.Addr(20), Cmd: harness.Serve(9000)})

	p := newComposeProject(h, n, map[string]any{
		// 2.4: what docker-compose 1.29 and Compose v2 both read
		// (external networks by name, static addresses, dns).
		"version": "2.4",
		"services": map[string]any{
			"web": namesService(h, n, webIP.String(), harness.Serve(80), labels(
				"dcfw.enable=true",
				"dcfw.input.policy=deny",
				"dcfw.output.policy=deny",
				"dcfw.output.rule.1=allow proto tcp to db port 5432",
				"dcfw.output.rule.2=allow proto tcp to api.test port 443",
				webDNS,
			), dnsIP.String()),
			"db": namesService(h, n, "${DB_IP}", harness.Serve(5432, 3306), labels(
				"dcfw.enable=true",
				"dcfw.input.policy=deny",
				"dcfw.input.rule.1=allow proto tcp from web to any port 5432",
			)),
		},
		"networks": map[string]any{"testnet": map[string]any{"external": true, "name": n.Name}},
	})
	p.env = []string{"DB_IP=" + dbIP.String()}
	p.mustRun("up", "-d")
	web, db := p.service("web"), p.service("db")

	checkAllPass(t, []flow{
		{web, "tcp", db.Addr(n, 5432), true, "control"},
		{web, "tcp", db.Addr(n, 3306), true, "control"},
		{other, "tcp", db.Addr(n, 5432), true, "control"},
		{web, "tcp", a.Addr(n, 443), true, "control"},
		{web, "tcp", b.Addr(n, 443), true, "control"},
		{web, "tcp", other.Addr(n, 9000), true, "control"},
	})

	d := startDcfw(h)
	waitProtected(d, 0, web)
	waitProtected(d, 0, db)
	// The names resolve once the process runs (the sandbox path wrote
	// the sets empty): wait for their first addresses.
	d.WaitForLog(`name resolved\s+\{"container": "`+regexp.QuoteMeta(web.Name)+`".*"name": "db"`, protectTimeout)
	d.WaitForLog(`name resolved\s+\{"container": "`+regexp.QuoteMeta(db.Name)+`".*"name": "web"`, protectTimeout)
	waitFor(t, "web's set of db to hold db's address", func() bool { return setHas(t, web, "ip_db", dbIP) })
	waitFor(t, "db's set of web to hold web's address", func() bool { return setHas(t, db, "ip_web", webIP) })
	waitFor(t, "web's set of api.test to hold the DNS answer", func() bool { return setHas(t, web, "ip_api.test", apiA) })

	// Service names.
	step(t, "service names")
	{
		checkFlows(t, []flow{
			{web, "tcp", db.Addr(n, 5432), true, "web to db by name, the allowed port"},
			{web, "tcp", db.Addr(n, 3306), false, "web to db, another port"},
			{web, "tcp", other.Addr(n, 9000), false, "web to a container it names nowhere"},
			{other, "tcp", db.Addr(n, 5432), false, "db allows only `from web`"},
		})
	}

	// db recreated with a new address.
	step(t, "db recreated with a new address")
	{
		var started harness.Event
		rec := h.RecordEvents(make(client.Filters).Add("type", "container").Add("event", "start").
			Add("label", "com.docker.compose.project="+p.name).Add("label", "com.docker.compose.service=db"), nil)
		mark := d.Mark()
		p.env = []string{"DB_IP=" + dbIP2.String()}
		p.mustRun("up", "-d", "--force-recreate", "db")
		db2 := p.service("db")
		if db2.ID == db.ID {
			t.Fatalf("db was not recreated")
		}
		started = rec.WaitFor(nameChangeTimeout, "the new db's start event", harness.IsEvent(events.ContainerEventType, events.ActionStart, db2.ID))
		line := d.WaitForLogSince(mark, nameChangeLine(web, "db", "added", dbIP2), nameChangeTimeout)
		if took := mustLogTime(t, line).Sub(started.At()); took > startToReachable {
			t.Errorf("web's set had the new db's address %s after its start event, want within %s", took, startToReachable)
		} else {
			t.Logf("new address in web's set %s after the start event (negative: before it, at the network connect event)", took)
		}
		d.WaitForLogSince(mark, nameChangeLine(web, "db", "removed", dbIP), nameChangeTimeout)
		if setHas(t, web, "ip_db", dbIP) {
			t.Errorf("the old db address is still in web's set")
		}
		// Someone else takes the old address: web may not reach it.
		squatter := h.RunContainer(harness.ContainerSpec{Name: "squatter", Network: n, IPv4: dbIP, Cmd: harness.Serve(5432)})
		d.WaitForLogSince(mark, `INFO\s+protection applied\s+\{.*"id": "`+db2.ID[:12]+`"`, protectTimeout)
		waitFor(t, "db's set of web in its new namespace", func() bool { return setHas(t, db2, "ip_web", webIP) })
		checkFlows(t, []flow{
			{web, "tcp", db2.Addr(n, 5432), true, "web to the recreated db by name"},
			{web, "tcp", squatter.Addr(n, 5432), false, "web to db's old address, someone else's now"},
			{other, "tcp", db2.Addr(n, 5432), false, "the new db still allows only `from web`"},
		})
	}

	// A DNS name with a TTL and a changing answer.
	step(t, "DNS name with a TTL and a changing answer")
	{
		checkFlows(t, []flow{
			{web, "tcp", a.Addr(n, 443), true, "web to api.test"},
			{web, "tcp", b.Addr(n, 443), false, "web to another host"},
		})
		mark := d.Mark()
		changed := time.Now()
		if r := dns.Exec(harness.TestPeerPath, "dns-set", "api.test", fmt.Sprint(int(dnsTTL/time.Second)), apiB.String()); r.ExitCode != 0 {
			t.Fatalf("dns-set: %+v", r)
		}
		d.WaitForLogSince(mark, nameChangeLine(web, "api.test", "added", apiB), nameChangeTimeout)
		checkFlows(t, []flow{
			{web, "tcp", b.Addr(n, 443), true, "web to api.test's new address"},
			{web, "tcp", a.Addr(n, 443), true, "web to api.test's old address, within its TTL"},
		})
		// Past the minimum retention, within the TTL: still allowed.
		sleepUntil(changed.Add(names.MinRetention + 3*time.Second))
		checkFlows(t, []flow{{web, "tcp", a.Addr(n, 443), true, "the old address past the minimum retention, within the TTL"}})
		line := d.WaitForLogSince(mark, nameChangeLine(web, "api.test", "removed", apiA), dnsTTL+nameChangeTimeout)
		// The last answer that held the old address came at most one
		// interval before the change.
		if kept := mustLogTime(t, line).Sub(changed); kept < dnsTTL-dcfwInterval-time.Second {
			t.Errorf("the old address was removed %s after the answer changed, before its TTL of %s", kept, dnsTTL)
		}
		checkFlows(t, []flow{{web, "tcp", a.Addr(n, 443), false, "the old address after its TTL"}})
	}

	// A container that points its resolv.conf at a DNS server of its own,
	// on its own loopback, which answers a name with an address its rules
	// must not reach: dcfw asks the engine's DNS, not that server.
	step(t, "a resolv.conf of the container's own")
	{
		conf := filepath.Join(t.TempDir(), "resolv.conf")
		if err := os.WriteFile(conf, []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		liar := h.RunContainer(harness.ContainerSpec{Name: "liar", Network: n, Binds: []string{conf + ":/etc/resolv.conf:ro"},
			Cmd: []string{"dns", "victim", "40", a.IP(n).String()}, Labels: labels(
				"dcfw.enable=true",
				"dcfw.output.policy=deny",
				"dcfw.output.rule.1=allow proto tcp to victim port 443",
			)})
		liar.WaitForLog(`^ready dns=`, harness.ReadyTimeout)
		d.WaitForLog(`WARN\s+name does not resolve: rules with it match nothing.*\{"container": "`+regexp.QuoteMeta(liar.Name)+`".*"name": "victim"`, protectTimeout)
		checkFlows(t, []flow{{liar, "tcp", a.Addr(n, 443), false, "a name its own DNS server answers"}})
		if setHas(t, liar, "ip_victim", a.IP(n)) {
			t.Errorf("the set of victim holds the address the container's own DNS server gave")
		}
	}

	// Names that do not resolve.
	step(t, "names that do not resolve")
	{
		useDNS := func(_ *container.Config, hc *container.HostConfig, _ *network.NetworkingConfig) {
			hc.DNS = []netip.Addr{dnsIP}
		}
		allow := h.RunContainer(harness.ContainerSpec{Name: "lonely-allow", Network: n, Configure: useDNS, Labels: labels(
			"dcfw.enable=true",
			"dcfw.output.policy=deny",
			"dcfw.output.rule.1=allow proto tcp to nowhere.test port 443",
			"dcfw.output.rule.2=allow proto udp to "+dnsIP.String()+" port 53",
		)})
		deny := h.RunContainer(harness.ContainerSpec{Name: "lonely-deny", Network: n, Configure: useDNS, Labels: labels(
			"dcfw.enable=true",
			"dcfw.output.rule.1=deny proto tcp to nowhere.test port 443",
		)})
		d.WaitForLog(`WARN\s+name does not resolve: rules with it match nothing.*\{"container": "`+regexp.QuoteMeta(allow.Name)+`".*"name": "nowhere.test".*name not found`, protectTimeout)
		d.WaitForLog(`ERROR\s+a deny or reject rule's name does not resolve.*locked down.*\{"container": "`+regexp.QuoteMeta(deny.Name)+`".*"names": \["nowhere.test"\].*name not found`, protectTimeout)
		checkFlows(t, []flow{
			{allow, "tcp", a.Addr(n, 443), false, "an allow rule whose name does not resolve allows nothing"},
			{deny, "tcp", a.Addr(n, 443), false, "a deny rule whose name does not resolve: locked down"},
			{deny, "tcp", other.Addr(n, 9000), false, "locked down: everything"},
		})
		if table := expectTable(t, deny); strings.Contains(table, "nowhere") {
			t.Errorf("the locked-down namespace holds the policy's rules:\n%s", table)
		}
		// The name comes to exist: the lockdown is lifted (its DNS
		// queries pass the lockdown), and the deny rule blocks only it.
		mark := d.Mark()
		if r := dns.Exec(harness.TestPeerPath, "dns-set", "nowhere.test", "40", apiB.String()); r.ExitCode != 0 {
			t.Fatalf("dns-set: %+v", r)
		}
		d.WaitForLogSince(mark, `name resolved\s+\{"container": "`+regexp.QuoteMeta(deny.Name)+`".*"name": "nowhere.test"`, nameChangeTimeout)
		waitFor(t, "the deny rule's set", func() bool { return setHas(t, deny, "ip_nowhere.test", apiB) })
		checkFlows(t, []flow{
			{deny, "tcp", a.Addr(n, 443), true, "lockdown lifted"},
			{deny, "tcp", b.Addr(n, 443), false, "the denied name"},
			{allow, "tcp", b.Addr(n, 443), true, "the allowed name, resolved"},
		})
	}
}

// step marks where a part of a long test begins, in its log. (Not
// subtests: the harness fails the test it was set up with.)
func step(t *testing.T, what string) { t.Logf("=== %s", what) }

func sleepUntil(at time.Time) { time.Sleep(time.Until(at)) }

// waitFor polls cond until it holds, or fails the test after a bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(nameChangeTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
