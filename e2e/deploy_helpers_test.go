package e2e

// Helpers of the deployment tests (deploy_test.go): the image as the
// Dockerfile builds it, and dcfw run as a container with the settings of
// deploy/docker-compose.yml, read from the file itself so that the tests
// cannot drift from it.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/dcfw/dcfw/internal/harness"
	"github.com/dcfw/dcfw/internal/testenv"
	"github.com/dcfw/dcfw/netnsutil"
)

// dockerNetnsDir is where the engine keeps its sandboxes' namespaces.
const dockerNetnsDir = "/var/run/docker/netns"

// Where the deployment's files are, relative to the module root.
const (
	composePath    = "deploy/docker-compose.yml"
	composeService = "dcfw"
	dockerfilePath = "Dockerfile"
	// imageBinary is where the Dockerfile COPYs the binary from, in the
	// build context (the module root; see .dockerignore).
	imageBinary = "bin/dcfw"
)

// releaseBuild is the command the Dockerfile's comment, the README and
// scripts/run.sh build the image's binary with; these tests run it too.
// The version comes from git describe: Go stamps no revision in a git
// worktree, nor with -buildvcs=false.
const releaseBuild = `CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=$(git describe --tags --always --dirty --abbrev=12)" -o ` + imageBinary + ` .`

// checkoutVersion is what git describe says of this checkout, which the
// release binary's --version must contain.
func checkoutVersion(t *testing.T) string {
	t.Helper()
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "describe", "--tags", "--always", "--dirty", "--abbrev=12")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git describe in %s: %v", root, err)
	}
	return strings.TrimSpace(string(out))
}

// composeFile is the part of a compose file the deployment uses. Decoding
// is strict (KnownFields): a setting added to the compose file that this
// struct does not know fails the tests until they apply it too.
type composeFile struct {
	Services map[string]*composeSvc `yaml:"services"`
}

type composeSvc struct {
	Image string `yaml:"image"`
	Build struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	ContainerName string            `yaml:"container_name"`
	Restart       string            `yaml:"restart"`
	Environment   map[string]string `yaml:"environment"`
	Command       []string          `yaml:"command"`
	User          string            `yaml:"user"`
	ReadOnly      bool              `yaml:"read_only"`
	Tmpfs         []string          `yaml:"tmpfs"`
	Pid           string            `yaml:"pid"`
	NetworkMode   string            `yaml:"network_mode"`
	SecurityOpt   []string          `yaml:"security_opt"`
	CapDrop       []string          `yaml:"cap_drop"`
	CapAdd        []string          `yaml:"cap_add"`
	Volumes       []string          `yaml:"volumes"`
}

// loadCompose reads the dcfw service of deploy/docker-compose.yml.
func loadCompose(t *testing.T) *composeSvc {
	t.Helper()
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, composePath))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f composeFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v (a setting the deployment tests do not know yet? teach composeSvc and composeSpec)", composePath, err)
	}
	if len(f.Services) != 1 || f.Services[composeService] == nil {
		t.Fatalf("%s: want exactly one service, %q; have %d", composePath, composeService, len(f.Services))
	}
	svc := f.Services[composeService]
	// The image and the container's name are variables (scripts/run.sh
	// can deploy under other names beside a running deployment): their
	// defaults are what a user gets.
	for _, v := range []*string{&svc.Image, &svc.ContainerName} {
		if *v, err = interpolateUnset(*v); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}

// clone returns a deep copy, for variants with one setting changed.
func (s *composeSvc) clone() *composeSvc {
	c := *s
	c.Environment = make(map[string]string, len(s.Environment))
	for k, v := range s.Environment {
		c.Environment[k] = v
	}
	c.Command = slices.Clone(s.Command)
	c.SecurityOpt = slices.Clone(s.SecurityOpt)
	c.CapDrop = slices.Clone(s.CapDrop)
	c.CapAdd = slices.Clone(s.CapAdd)
	c.Volumes = slices.Clone(s.Volumes)
	return &c
}

// withoutCap is the service without one of its added capabilities.
func (s *composeSvc) withoutCap(capability string) *composeSvc {
	c := s.clone()
	c.CapAdd = slices.DeleteFunc(c.CapAdd, func(x string) bool { return x == capability })
	return c
}

// volumeTarget is where a compose volume (SOURCE:TARGET[:OPTIONS]) is
// mounted, "" if it names none.
func volumeTarget(v string) string {
	parts := strings.Split(v, ":")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// withoutVolume is the service without the volume mounted at target.
func (s *composeSvc) withoutVolume(t *testing.T, target string) *composeSvc {
	t.Helper()
	c := s.clone()
	n := len(c.Volumes)
	c.Volumes = slices.DeleteFunc(c.Volumes, func(v string) bool { return volumeTarget(v) == target })
	if len(c.Volumes) != n-1 {
		t.Fatalf("%s: no volume mounted at %s in %q", composePath, target, s.Volumes)
	}
	return c
}

// withVolumeOptions is the service with the volume mounted at target
// given other options (e.g. "ro" instead of "ro,rslave").
func (s *composeSvc) withVolumeOptions(t *testing.T, target, options string) *composeSvc {
	t.Helper()
	c := s.clone()
	i := slices.IndexFunc(c.Volumes, func(v string) bool { return volumeTarget(v) == target })
	if i < 0 {
		t.Fatalf("%s: no volume mounted at %s in %q", composePath, target, s.Volumes)
	}
	source, _, _ := strings.Cut(c.Volumes[i], ":")
	c.Volumes[i] = source + ":" + target + ":" + options
	return c
}

// composeSpec is the container the compose file describes, as a harness
// ContainerSpec: the same capabilities, security options, PID and network
// namespaces, read-only root, mounts, restart policy, environment, user
// and command, on the given image, with args appended to the command.
// Only the name differs: a unique one per test instead of container_name,
// so that tests (and a real dcfw on the machine) do not collide.
func composeSpec(t *testing.T, svc *composeSvc, image string, args ...string) harness.ContainerSpec {
	t.Helper()
	env := make([]string, 0, len(svc.Environment))
	for k, v := range svc.Environment {
		val, err := interpolateUnset(v)
		if err != nil {
			t.Fatalf("%s: environment %s: %v", composePath, k, err)
		}
		env = append(env, k+"="+val)
	}
	slices.Sort(env)
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || len(parts) > 3 || !filepath.IsAbs(parts[0]) {
			t.Fatalf("%s: volume %q is not a bind mount HOST:CONTAINER[:OPTIONS]", composePath, v)
		}
	}
	restart := container.RestartPolicyMode(svc.Restart)
	return harness.ContainerSpec{
		Name:        "dcfw",
		Image:       image,
		Cmd:         append(slices.Clone(svc.Command), args...),
		Env:         env,
		User:        svc.User,
		CapDrop:     svc.CapDrop,
		CapAdd:      svc.CapAdd,
		ReadOnly:    svc.ReadOnly,
		PidMode:     svc.Pid,
		NetworkMode: svc.NetworkMode,
		SecurityOpt: svc.SecurityOpt,
		// Short volume syntax is Docker's bind syntax.
		Binds: svc.Volumes,
		Configure: func(_ *container.Config, hc *container.HostConfig, _ *network.NetworkingConfig) {
			hc.RestartPolicy = container.RestartPolicy{Name: restart}
			for _, m := range svc.Tmpfs {
				if hc.Tmpfs == nil {
					hc.Tmpfs = map[string]string{}
				}
				path, opts, _ := strings.Cut(m, ":")
				hc.Tmpfs[path] = opts
			}
		},
	}
}

// interpolateUnset expands compose's variables in s as compose does when
// none of them is set in its environment: ${NAME:-default} and
// ${NAME-default} are the default, ${NAME} and $NAME empty, $$ is $. The
// tester's own environment is deliberately not used: the test runs the
// deployment as it is by default.
func interpolateUnset(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		rest := s[i+1:]
		switch {
		case strings.HasPrefix(rest, "$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", s)
			}
			expr := rest[1:end]
			if j := strings.Index(expr, "-"); j >= 0 {
				b.WriteString(expr[j+1:]) // the default, for :- and -
			} else if strings.ContainsAny(expr, "?:+") {
				return "", fmt.Errorf("unsupported expansion ${%s} in %q", expr, s)
			}
			i += 1 + end
		default:
			j := 0
			for j < len(rest) && (rest[j] == '_' || 'a' <= rest[j]|0x20 && rest[j]|0x20 <= 'z' || j > 0 && '0' <= rest[j] && rest[j] <= '9') {
				j++
			}
			if j == 0 {
				return "", fmt.Errorf("lone $ in %q (write $$)", s)
			}
			i += j
		}
	}
	return b.String(), nil
}

// runComposeDcfw starts dcfw as a container with svc's settings, scoped to
// this run's containers.
func runComposeDcfw(h *harness.Harness, svc *composeSvc, args ...string) *harness.Container {
	h.T().Helper()
	requireSharedNetnsMount(h.T(), svc)
	args = append([]string{"--only-label", harness.LabelRun + "=" + h.RunID()}, args...)
	return h.RunContainer(composeSpec(h.T(), svc, deployImage(h), args...))
}

// The image, built once per run from the repository's Dockerfile.
var deployImageOnce struct {
	once sync.Once
	tag  string
	err  error
}

// deployImage builds dcfw's image as the README says: a static binary
// (CGO_ENABLED=0, release flags) at bin/dcfw in the context, and the
// repository's Dockerfile. It is removed when the run ends.
func deployImage(h *harness.Harness) string {
	h.T().Helper()
	deployImageOnce.once.Do(func() {
		deployImageOnce.tag, deployImageOnce.err = buildDeployImage(h)
	})
	if deployImageOnce.err != nil {
		h.T().Fatalf("build dcfw's image: %v", deployImageOnce.err)
	}
	return deployImageOnce.tag
}

func buildDeployImage(h *harness.Harness) (string, error) {
	bin, err := buildReleaseBinary(h.TempDir())
	if err != nil {
		return "", err
	}
	content, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	root, err := harness.ModuleRoot()
	if err != nil {
		return "", err
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, dockerfilePath))
	if err != nil {
		return "", err
	}
	return h.BuildRunImage("dcfwe2e-deploy",
		harness.ImageFile{Name: "Dockerfile", Content: dockerfile},
		harness.ImageFile{Name: imageBinary, Mode: 0o755, Content: content})
}

// releaseBinary is the path of the binary buildReleaseBinary made.
var releaseBinary struct {
	once sync.Once
	path string
	err  error
}

// buildReleaseBinary builds dcfw with releaseBuild, the command itself run
// by bash, into dir/release/dcfw (once per run).
func buildReleaseBinary(dir string) (string, error) {
	releaseBinary.once.Do(func() {
		root, err := harness.ModuleRoot()
		if err != nil {
			releaseBinary.err = err
			return
		}
		goBin, err := harness.GoCommand()
		if err != nil {
			releaseBinary.err = err
			return
		}
		out := filepath.Join(dir, "release", "dcfw")
		ctx, cancel := context.WithTimeout(context.Background(), harness.BuildTimeout)
		defer cancel()
		script := strings.Replace(releaseBuild, "-o "+imageBinary+" ", "-o '"+out+"' ", 1)
		cmd := exec.CommandContext(ctx, "bash", "-c", script)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(goBin)+":"+os.Getenv("PATH"))
		if output, err := cmd.CombinedOutput(); err != nil {
			releaseBinary.err = fmt.Errorf("%v: %v\n%s", cmd.Args, err, output)
			return
		}
		releaseBinary.path = out
	})
	return releaseBinary.path, releaseBinary.err
}

// requireSharedNetnsMount skips (fails under CI) unless the host's mount
// that holds the rslave volume's source propagates mounts: Docker refuses
// an rslave bind from a private mount ("is not a shared or slave mount").
// systemd makes every mount shared at boot; scripts/test.sh does it where
// no systemd did (containers, minimal VMs).
func requireSharedNetnsMount(t *testing.T, svc *composeSvc) {
	t.Helper()
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) != 3 || !strings.Contains(parts[2], "slave") {
			continue
		}
		m, err := netnsutil.MountOf(parts[0])
		if err != nil {
			t.Fatalf("propagation of %s: %v", parts[0], err)
		}
		if !m.Propagates {
			testenv.SkipOrFail(t, fmt.Sprintf("%s is on mount %s, which is private: Docker refuses the compose file's rslave volume %q. "+
				"Make it shared as systemd does at boot (mount --make-shared %s), or run scripts/test.sh, which does", parts[0], m.Point, v, m.Point))
		}
	}
}

// capMask is the capability set named by Docker's names (NET_ADMIN or
// CAP_NET_ADMIN), as /proc/<pid>/status shows it.
func capMask(t *testing.T, names []string) uint64 {
	t.Helper()
	nums := map[string]int{
		"NET_ADMIN": unix.CAP_NET_ADMIN, "SYS_ADMIN": unix.CAP_SYS_ADMIN, "SYS_PTRACE": unix.CAP_SYS_PTRACE,
		"DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE, "DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH, "NET_RAW": unix.CAP_NET_RAW,
	}
	var m uint64
	for _, n := range names {
		c, ok := nums[strings.TrimPrefix(strings.ToUpper(n), "CAP_")]
		if !ok {
			t.Fatalf("capability %q unknown to the test; add it to capMask", n)
		}
		m |= 1 << uint(c)
	}
	return m
}

// procStatusField reads one field of /proc/<pid>/status (CapEff, Uid...).
func procStatusField(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return ""
}

func TestDeployInterpolateUnset(t *testing.T) {
	for in, want := range map[string]string{
		"info": "info", "${X:-info}": "info", "${X-a b}": "a b", "${X:-}": "", "${X}": "", "$X/y": "/y",
		"a$$b": "a$b", "${A:-1}${B:-2}": "12",
	} {
		if got, err := interpolateUnset(in); err != nil || got != want {
			t.Errorf("interpolateUnset(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"${X", "${X:?required}", "$", "a $ b"} {
		if got, err := interpolateUnset(bad); err == nil {
			t.Errorf("interpolateUnset(%q) = %q, want an error", bad, got)
		}
	}
}
