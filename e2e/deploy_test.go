package e2e

// End-to-end tests of the deployment: dcfw's image built from the
// repository's Dockerfile, run as a container with exactly the settings of
// deploy/docker-compose.yml (read from the file), protecting real
// containers, and failing loudly without each of its privileges.

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/internal/harness"
	"github.com/dcfw/dcfw/internal/testpeer"
)

// maxImageBytes is the bound on the size of dcfw's image.
const maxImageBytes = 15 << 20

// exitTimeout bounds how long a dcfw that must refuse to start may take.
const exitTimeout = time.Minute

// The image is small, holds the static binary only and needs no registry.
func TestDeployImage(t *testing.T) {
	h := harness.Setup(t)
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile(filepath.Join(root, dockerfilePath))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(df), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && strings.EqualFold(f[0], "FROM") && f[1] != "scratch" {
			t.Errorf("Dockerfile: %q needs a registry; the image must build from scratch", l)
		}
	}

	image := deployImage(h)
	ctx, cancel := h.Ctx()
	defer cancel()
	res, err := h.Docker().ImageInspect(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED image %s: %d bytes (%.1f MiB), bound %d MiB", image, res.Size, float64(res.Size)/(1<<20), maxImageBytes>>20)
	if res.Size >= maxImageBytes {
		t.Errorf("image is %d bytes, want < %d", res.Size, maxImageBytes)
	}
	if got := res.Config.Entrypoint; len(got) != 1 || got[0] != "/dcfw" {
		t.Errorf("entrypoint %q, want [/dcfw]", got)
	}
	if len(res.RootFS.Layers) != 1 {
		t.Errorf("%d layers, want 1 (the binary on scratch)", len(res.RootFS.Layers))
	}

	// Static: no program interpreter, no shared libraries.
	bin, err := buildReleaseBinary(h.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: not static", bin)
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", bin, libs)
	}

	// It runs: the image's own binary answers --version, with the commit it
	// was built from.
	c := h.RunContainer(harness.ContainerSpec{Name: "version", Image: image, Cmd: []string{"--version"}, NetworkMode: "none"})
	if code := c.WaitExit(exitTimeout); code != 0 {
		t.Fatalf("dcfw --version exited %d:\n%s", code, c.Logs())
	}
	if out, want := c.Logs(), checkoutVersion(t); !strings.HasPrefix(out, "dcfw ") || !strings.Contains(out, want) {
		t.Errorf("dcfw --version printed %q, want the checkout's version %q in it", out, want)
	}
}

// dcfw as the compose file runs it protects a root container and a user
// 1000 container (whose namespace needs CAP_SYS_PTRACE to open), present
// at its start or started later, with real traffic checked both ways.
func TestDeployComposeProtects(t *testing.T) {
	h := harness.Setup(t)
	svc := loadCompose(t)
	if svc.Build.Context != ".." || svc.Build.Dockerfile != dockerfilePath {
		t.Errorf("%s builds context %q, Dockerfile %q; want the repository's (.., %s), the image this test builds",
			composePath, svc.Build.Context, svc.Build.Dockerfile, dockerfilePath)
	}
	n := h.Bridge()
	peer := h.RunContainer(harness.ContainerSpec{Name: "peer", Network: n, Cmd: harness.Serve(9000, 9001)})
	root := h.RunContainer(harness.ContainerSpec{
		Name: "root", Network: n, Cmd: harness.Serve(80, 81),
		Labels: labels("dcfw.enable=true",
			"dcfw.input.rule.1=allow proto tcp to any port 80",
			"dcfw.output.policy=deny",
			"dcfw.output.rule.1=allow proto tcp to "+peer.IP(n).String()+" port 9000"),
	})
	user := h.RunContainer(harness.ContainerSpec{
		Name: "user1000", Network: n, User: "1000", Cmd: harness.Serve(8080, 8081),
		Labels: labels("dcfw.enable=true", "dcfw.input.rule.1=allow proto tcp to any port 8080"),
	})
	if uid := procStatusField(t, user.PID(), "Uid"); !strings.HasPrefix(uid, "1000\t") {
		t.Fatalf("user container runs as uid %q, want 1000", uid)
	}
	flows := []flow{
		{peer, "tcp", root.Addr(n, 80), true, "root container, allowed port"},
		{peer, "tcp", root.Addr(n, 81), false, "root container, other port"},
		{root, "tcp", peer.Addr(n, 9000), true, "root container out, allowed"},
		{root, "tcp", peer.Addr(n, 9001), false, "root container out, other port"},
		{peer, "tcp", user.Addr(n, 8080), true, "user 1000 container, allowed port"},
		{peer, "tcp", user.Addr(n, 8081), false, "user 1000 container, other port"},
	}
	checkAllPass(t, flows)

	dcfw := runComposeDcfw(h, svc, "--interval", dcfwInterval.String(), "--log-level", "debug")
	for _, c := range []*harness.Container{root, user} {
		dcfw.WaitForLog(logLine("INFO", "protection applied", c), protectTimeout)
		expectTable(t, c)
	}
	if out := dcfw.Logs(); strings.Contains(out, privatePropagationWarning) {
		t.Errorf("dcfw warns about the sandbox directory's propagation although the compose file mounts it rslave:\n%s", harness.Indent(out))
	}
	checkFlows(t, flows)
	expectNoTable(t, peer)

	// dcfw holds exactly the compose file's capabilities: the test applies
	// what the file says, and nothing grants more.
	dpid := dcfw.PID()
	if got, want := procStatusField(t, dpid, "CapEff"), fmt.Sprintf("%016x", capMask(t, svc.CapAdd)); got != want {
		t.Errorf("dcfw's effective capabilities %s, want %s (%v)", got, want, svc.CapAdd)
	}
	if got := procStatusField(t, dpid, "NoNewPrivs"); got != "1" {
		t.Errorf("dcfw's NoNewPrivs %s, want 1", got)
	}

	// A container started after dcfw: protected through the events, and
	// its sandbox file is a live namespace inside dcfw's mount namespace
	// too (rslave propagation of the sandbox directory).
	late := h.RunContainer(harness.ContainerSpec{
		Name: "late1000", Network: n, User: "1000", Cmd: harness.Serve(8080, 8081),
		Labels: labels("dcfw.enable=true", "dcfw.input.rule.1=allow proto tcp to any port 8080"),
	})
	dcfw.WaitForLog(logLine("INFO", "protection applied", late), protectTimeout)
	checkFlows(t, []flow{
		{peer, "tcp", late.Addr(n, 8080), true, "late container, allowed port"},
		{peer, "tcp", late.Addr(n, 8081), false, "late container, other port"},
	})
	sandbox := late.Inspect().NetworkSettings.SandboxKey
	inside := filepath.Join(fmt.Sprintf("/proc/%d/root", dpid), "/var/run/docker/netns", filepath.Base(sandbox))
	var st unix.Statfs_t
	if err := unix.Statfs(inside, &st); err != nil {
		t.Errorf("sandbox file of %s not visible inside dcfw: %v", late.Name, err)
	} else if st.Type != unix.NSFS_MAGIC {
		t.Errorf("sandbox file of %s inside dcfw is not a namespace (filesystem type %#x): the mount did not propagate", late.Name, st.Type)
	}

	// Protection before the first packet works in this deployment too: the
	// sandbox directory, mounted with rslave, shows a starting container's
	// namespace before its process runs, and dcfw protects it from there.
	first := h.RunContainer(harness.ContainerSpec{
		Name: "first1000", Network: n, User: "1000",
		Labels: labels("dcfw.enable=true", "dcfw.output.policy=deny"),
		Cmd:    harness.FirstConnect("tcp", peer.Addr(n, 9000), time.Second),
	})
	report := first.FirstConnectOutcome(exitTimeout)
	word, _, _ := strings.Cut(report, " ")
	if o, err := testpeer.ParseOutcome(word); err != nil || !o.Blocked() {
		t.Errorf("%s's first connect, forbidden by its labels: %q (%v), want it blocked", first.Name, report, err)
	}
	// Container.WaitForLog returns the match: take the rest of the line too.
	line := dcfw.WaitForLog(logLine("INFO", "protection applied", first)+".*", protectTimeout)
	if !strings.Contains(line, `"path": "sandbox"`) {
		t.Errorf("%s not protected through the sandbox directory (before its process): %s", first.Name, line)
	}

	// docker stop: dcfw exits cleanly and the rules stay.
	ctx, cancel := h.Ctx()
	defer cancel()
	timeout := 20
	if _, err := h.Docker().ContainerStop(ctx, dcfw.ID, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	if code := dcfw.WaitExit(exitTimeout); code != 0 {
		t.Errorf("dcfw exited %d on docker stop, want 0", code)
	}
	for _, c := range []*harness.Container{root, user, late, first} {
		expectTable(t, c)
	}
}

// refusesToStart runs dcfw with svc's settings (restart policy off, so
// that its exit is seen) and checks that it exits 1 with every one of
// want in its log, before touching the labelled container.
func refusesToStart(t *testing.T, h *harness.Harness, svc *composeSvc, victim *harness.Container, want ...string) {
	t.Helper()
	// Not a privilege: without it the engine restarts the failing dcfw in
	// a loop, and the exit code would not be seen.
	svc.Restart = "no"
	dcfw := runComposeDcfw(h, svc)
	code := dcfw.WaitExit(exitTimeout)
	out := dcfw.Logs()
	if code != 1 {
		t.Errorf("dcfw exited %d, want 1; log:\n%s", code, harness.Indent(out))
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("log lacks %q:\n%s", w, harness.Indent(out))
		}
	}
	if strings.Contains(out, "protection applied") {
		t.Errorf("dcfw protected something although it must refuse to run:\n%s", harness.Indent(out))
	}
	expectNoTable(t, victim)
}

// privatePropagationWarning is part of preflight's warning about a
// sandbox directory mounted without propagation.
const privatePropagationWarning = "whose propagation is private"

// The sandbox directory mounted without rslave (an easy slip in a
// hand-written docker run): dcfw says so when it starts, and containers
// started afterwards are still protected, through their process.
func TestDeployNetnsMountWithoutRslave(t *testing.T) {
	h := harness.Setup(t)
	svc := loadCompose(t).withVolumeOptions(t, dockerNetnsDir, "ro")
	n := h.Bridge()
	dcfw := runComposeDcfw(h, svc, "--interval", dcfwInterval.String())
	dcfw.WaitForLog(regexp.QuoteMeta(privatePropagationWarning)+".*rslave", protectTimeout)
	late := h.RunContainer(harness.ContainerSpec{
		Name: "late", Network: n, User: "1000", Cmd: harness.Serve(8080),
		Labels: labels("dcfw.enable=true", "dcfw.output.policy=deny"),
	})
	line := dcfw.WaitForLog(logLine("INFO", "protection applied", late)+".*", protectTimeout)
	if !strings.Contains(line, `"path": "pid"`) {
		t.Errorf("%s: %s; want the PID path (dcfw cannot see new sandbox namespaces without rslave)", late.Name, line)
	}
	expectTable(t, late)
}

// Without any one capability of the compose file, dcfw refuses to start,
// naming the capability and the fix, rather than run and protect nothing.
func TestDeployWithoutCapability(t *testing.T) {
	h := harness.Setup(t)
	svc := loadCompose(t)
	if len(svc.CapAdd) == 0 {
		t.Fatalf("%s adds no capabilities", composePath)
	}
	victim := h.RunContainer(harness.ContainerSpec{Name: "victim", NetworkMode: "none", Labels: labels("dcfw.enable=true")})
	for _, capability := range svc.CapAdd {
		t.Run(capability, func(t *testing.T) {
			name := strings.TrimPrefix(strings.ToUpper(capability), "CAP_")
			refusesToStart(t, h, svc.withoutCap(capability), victim,
				"missing capability CAP_"+name, "cap_add: ["+name+"]", "dcfw cannot protect containers like this and exits")
		})
	}
}

// Without the host's PID namespace or the engine's socket, dcfw refuses
// to start too, saying which setting is missing.
func TestDeployWithoutHostAccess(t *testing.T) {
	h := harness.Setup(t)
	svc := loadCompose(t)
	victim := h.RunContainer(harness.ContainerSpec{Name: "victim", NetworkMode: "none", Labels: labels("dcfw.enable=true")})
	t.Run("pid", func(t *testing.T) {
		noPid := svc.clone()
		noPid.Pid = ""
		refusesToStart(t, h, noPid, victim, "dcfw does not see the host's processes", "pid: host")
	})
	t.Run("docker.sock", func(t *testing.T) {
		refusesToStart(t, h, svc.withoutVolume(t, "/var/run/docker.sock"), victim,
			"cannot reach the Docker engine", "mount the engine's socket")
	})
}
