package harness

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// ContainerSpec says what container to create. The zero value is a test
// peer container that sleeps, on no network of the test's (the engine's
// default bridge: give Network for anything that talks).
type ContainerSpec struct {
	// Name goes into the container's unique name (for `docker ps`).
	Name string
	// Image defaults to the test peer image; Cmd is then the peer's
	// command line (see Serve, Sleep, FirstConnect). Default: sleep.
	Image      string
	Cmd        []string
	Entrypoint []string
	// Labels of the container, e.g. dcfw.enable; the run's labels are
	// added to them.
	Labels map[string]string

	// Network to attach to, with static addresses: IPv4 (and IPv6 on an
	// IPv6 network) default to the network's next free automatic address.
	Network *Network
	IPv4    netip.Addr
	IPv6    netip.Addr
	// NetworkMode "host" or "none" instead of Network.
	NetworkMode string
	// ShareNetworkWith joins that container's namespace
	// (--network container:<id>) instead of Network.
	ShareNetworkWith *Container

	User        string // e.g. "1000" (numeric: the image has no /etc/passwd)
	Env         []string
	CapAdd      []string
	CapDrop     []string
	Privileged  bool
	ReadOnly    bool
	PidMode     string // e.g. "host"
	SecurityOpt []string
	Binds       []string // "host-path:container-path[:ro,rslave]"

	// Configure, when set, may change anything before the container is
	// created, for options the spec does not name.
	Configure func(*container.Config, *container.HostConfig, *network.NetworkingConfig)
}

// Serve is the test peer command line that answers on the given TCP ports.
func Serve(tcpPorts ...int) []string { return ServeTCPUDP(tcpPorts, nil) }

// ServeTCPUDP is the test peer command line that answers on the given TCP
// and UDP ports.
func ServeTCPUDP(tcpPorts, udpPorts []int) []string {
	cmd := []string{"serve"}
	if len(tcpPorts) > 0 {
		cmd = append(cmd, "--tcp", joinInts(tcpPorts))
	}
	if len(udpPorts) > 0 {
		cmd = append(cmd, "--udp", joinInts(udpPorts))
	}
	return cmd
}

// Sleep is the test peer command line that does nothing.
func Sleep() []string { return []string{"sleep"} }

// FirstConnect is the test peer command line whose very first action is a
// connect to addr; it then logs "first-connect <outcome> ..." and sleeps.
// Read the outcome with Container.FirstConnectOutcome.
func FirstConnect(proto, addr string, timeout time.Duration) []string {
	return []string{"first-connect", proto, addr, "--timeout", timeout.String()}
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// Container is a container created for one test; it is removed (forcibly)
// when the test ends, and its logs are printed if the test failed.
type Container struct {
	h    *Harness
	ID   string
	Name string
	Spec ContainerSpec
	// addresses given to it on Spec.Network
	ipv4, ipv6 netip.Addr
}

// Adopt returns a handle on a container the test did not create through
// the harness (one that a script under test started): it can be inspected
// and its log read, but the harness does not remove it.
func (h *Harness) Adopt(id, name string) *Container {
	return &Container{h: h, ID: id, Name: name}
}

// ReadyTimeout bounds the wait for a started container to be usable.
const ReadyTimeout = 30 * time.Second

// RunContainer creates and starts a container. It returns once the
// process runs; for a test peer that serves, once its listeners are ready.
func (h *Harness) RunContainer(spec ContainerSpec) *Container {
	h.t.Helper()
	c := h.CreateContainer(spec)
	c.Start()
	return c
}

// CreateContainer creates a container without starting it.
func (h *Harness) CreateContainer(spec ContainerSpec) *Container {
	h.t.Helper()
	c := h.CreateContainerNoCleanup(spec)
	h.t.Cleanup(func() {
		if h.t.Failed() {
			h.t.Logf("logs of container %s (%.12s):\n%s", c.Name, c.ID, Indent(c.tryLogs()))
		}
		ctx, cancel := h.Ctx()
		defer cancel()
		_, err := h.Docker().ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !IsNotFound(err) {
			h.t.Errorf("remove container %s: %v", c.Name, err)
		}
	})
	return c
}

// CreateContainerNoCleanup is CreateContainer without the cleanup, for a test that
// creates so many containers that it removes them itself (TestSoak).
func (h *Harness) CreateContainerNoCleanup(spec ContainerSpec) *Container {
	h.t.Helper()
	c := &Container{h: h, Name: h.UniqueName(spec.Name), Spec: spec}
	cfg := &container.Config{
		Image:      spec.Image,
		Cmd:        spec.Cmd,
		Entrypoint: spec.Entrypoint,
		Labels:     h.Labels(spec.Labels),
		User:       spec.User,
		Env:        spec.Env,
	}
	if cfg.Image == "" {
		cfg.Image = h.TestImage()
	}
	hc := &container.HostConfig{
		NetworkMode:    container.NetworkMode(spec.NetworkMode),
		CapAdd:         spec.CapAdd,
		CapDrop:        spec.CapDrop,
		Privileged:     spec.Privileged,
		ReadonlyRootfs: spec.ReadOnly,
		PidMode:        container.PidMode(spec.PidMode),
		SecurityOpt:    spec.SecurityOpt,
		Binds:          spec.Binds,
	}
	var nc *network.NetworkingConfig
	switch {
	case spec.ShareNetworkWith != nil:
		hc.NetworkMode = container.NetworkMode("container:" + spec.ShareNetworkWith.ID)
	case spec.Network != nil:
		n := spec.Network
		c.ipv4 = spec.IPv4
		if !c.ipv4.IsValid() {
			c.ipv4 = HostAddr(n.Subnet, n.nextAuto())
		}
		ipam := &network.EndpointIPAMConfig{IPv4Address: c.ipv4}
		if n.Subnet6.IsValid() {
			c.ipv6 = spec.IPv6
			if !c.ipv6.IsValid() {
				c.ipv6 = HostAddr(n.Subnet6, hostNumber(n.Subnet, c.ipv4))
			}
			ipam.IPv6Address = c.ipv6
		}
		hc.NetworkMode = container.NetworkMode(n.Name)
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			n.Name: {IPAMConfig: ipam},
		}}
	}
	if spec.Configure != nil {
		spec.Configure(cfg, hc, nc)
	}
	ctx, cancel := h.Ctx()
	defer cancel()
	res, err := h.Docker().ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: c.Name, Config: cfg, HostConfig: hc, NetworkingConfig: nc,
	})
	if err != nil {
		h.t.Fatalf("create container %s: %v", c.Name, err)
	}
	c.ID = res.ID
	return c
}

// hostNumber is the inverse of HostAddr for an IPv4 /24 (the last byte).
func hostNumber(_ netip.Prefix, a netip.Addr) int { return int(a.As4()[3]) }

func (c *Container) String() string { return c.Name }

// Start starts the container and waits until it is usable: running, and
// for a serving test peer, listening.
func (c *Container) Start() {
	c.h.t.Helper()
	if err := c.TryStart(); err != nil {
		c.h.t.Fatal(err)
	}
	c.waitReady()
}

// TryStart starts the container and returns at once (it does not wait for
// a serving peer to listen); for any goroutine.
func (c *Container) TryStart() error {
	ctx, cancel := c.h.Ctx()
	defer cancel()
	if _, err := c.h.Docker().ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start container %s: %w", c.Name, err)
	}
	return nil
}

// StartAll starts the created containers all at once (one goroutine each,
// released together), then waits until each is usable: for tests of many
// containers starting concurrently.
func (h *Harness) StartAll(cs ...*Container) {
	h.t.Helper()
	release := make(chan struct{})
	errs := make(chan error, len(cs))
	for _, c := range cs {
		go func() {
			<-release
			errs <- c.TryStart()
		}()
	}
	close(release)
	var failed []error
	for range cs {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		h.t.Fatal(errors.Join(failed...))
	}
	for _, c := range cs {
		c.waitReady()
	}
}

func (c *Container) waitReady() {
	c.h.t.Helper()
	if !c.isTestPeer() || len(c.Spec.Cmd) == 0 || c.Spec.Cmd[0] != "serve" {
		return
	}
	c.WaitForLog(`^ready `, ReadyTimeout)
}

func (c *Container) isTestPeer() bool {
	return (c.Spec.Image == "" || c.Spec.Image == c.h.TestImage()) && len(c.Spec.Entrypoint) == 0
}

// Stop stops the container (SIGTERM; the test peer exits at once).
func (c *Container) Stop() {
	c.h.t.Helper()
	ctx, cancel := c.h.Ctx()
	defer cancel()
	timeout := 10
	if _, err := c.h.Docker().ContainerStop(ctx, c.ID, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		c.h.t.Fatalf("stop container %s: %v", c.Name, err)
	}
}

// Restart restarts the container (a new process in a new network
// namespace) and waits until it is usable again.
func (c *Container) Restart() {
	c.h.t.Helper()
	ctx, cancel := c.h.Ctx()
	defer cancel()
	timeout := 10
	if _, err := c.h.Docker().ContainerRestart(ctx, c.ID, client.ContainerRestartOptions{Timeout: &timeout}); err != nil {
		c.h.t.Fatalf("restart container %s: %v", c.Name, err)
	}
	c.waitReady()
}

// Kill sends SIGKILL.
func (c *Container) Kill() {
	c.h.t.Helper()
	ctx, cancel := c.h.Ctx()
	defer cancel()
	if _, err := c.h.Docker().ContainerKill(ctx, c.ID, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		c.h.t.Fatalf("kill container %s: %v", c.Name, err)
	}
}

// Remove removes the container now (forcibly) rather than at cleanup.
func (c *Container) Remove() {
	c.h.t.Helper()
	ctx, cancel := c.h.Ctx()
	defer cancel()
	if _, err := c.h.Docker().ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !IsNotFound(err) {
		c.h.t.Fatalf("remove container %s: %v", c.Name, err)
	}
}

// Inspect returns the engine's view of the container. Note that the engine
// answers only after a starting container's process runs.
func (c *Container) Inspect() container.InspectResponse {
	c.h.t.Helper()
	ctx, cancel := c.h.Ctx()
	defer cancel()
	res, err := c.h.Docker().ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
	if err != nil {
		c.h.t.Fatalf("inspect container %s: %v", c.Name, err)
	}
	return res.Container
}

// PID is the host PID of the container's main process; the test fails if
// the container does not run.
func (c *Container) PID() int {
	c.h.t.Helper()
	st := c.Inspect().State
	if st == nil || !st.Running || st.Pid == 0 {
		c.h.t.Fatalf("container %s is not running (state %+v)", c.Name, st)
	}
	return st.Pid
}

// IP is the container's IPv4 address on n, as the engine reports it.
func (c *Container) IP(n *Network) netip.Addr {
	c.h.t.Helper()
	if n == c.Spec.Network && c.ipv4.IsValid() {
		return c.ipv4
	}
	return c.Endpoint(n).IPAddress
}

// IP6 is the container's IPv6 address on n.
func (c *Container) IP6(n *Network) netip.Addr {
	c.h.t.Helper()
	if n == c.Spec.Network && c.ipv6.IsValid() {
		return c.ipv6
	}
	return c.Endpoint(n).GlobalIPv6Address
}

// Endpoint is the container's endpoint on n, as the engine reports it.
func (c *Container) Endpoint(n *Network) *network.EndpointSettings {
	c.h.t.Helper()
	insp := c.Inspect()
	if insp.NetworkSettings != nil {
		if ep := insp.NetworkSettings.Networks[n.Name]; ep != nil {
			return ep
		}
	}
	c.h.t.Fatalf("container %s is not on network %s", c.Name, n.Name)
	return nil
}

// Addr is "ip:port" of the container's IPv4 address on n, for Connect.
func (c *Container) Addr(n *Network, port int) string {
	c.h.t.Helper()
	return net.JoinHostPort(c.IP(n).String(), strconv.Itoa(port))
}

// Addr6 is "[ip]:port" of the container's IPv6 address on n.
func (c *Container) Addr6(n *Network, port int) string {
	c.h.t.Helper()
	return net.JoinHostPort(c.IP6(n).String(), strconv.Itoa(port))
}

// Logs returns the container's stdout and stderr so far, interleaved.
func (c *Container) Logs() string {
	c.h.t.Helper()
	out, err := c.logs()
	if err != nil {
		c.h.t.Fatalf("logs of %s: %v", c.Name, err)
	}
	return out
}

func (c *Container) tryLogs() string {
	out, err := c.logs()
	if err != nil {
		return "(logs unavailable: " + err.Error() + ")"
	}
	return out
}

func (c *Container) logs() (string, error) {
	ctx, cancel := c.h.Ctx()
	defer cancel()
	rc, err := c.h.Docker().ContainerLogs(ctx, c.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var buf bytes.Buffer
	// Not a TTY: the stream is multiplexed; both go to one buffer, in order.
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return buf.String(), err
	}
	return buf.String(), nil
}

// logPoll is how often WaitForLog looks at the logs again.
const logPoll = 50 * time.Millisecond

// WaitForLog waits until the container's logs match the regular expression
// pattern (multi-line mode: ^ and $ match at line boundaries) and returns
// the first match; the test fails after timeout.
func (c *Container) WaitForLog(pattern string, timeout time.Duration) string {
	c.h.t.Helper()
	re := regexp.MustCompile("(?m)" + pattern)
	deadline := time.Now().Add(timeout)
	for {
		out, err := c.logs()
		if m := re.FindString(out); m != "" {
			return m
		}
		if time.Now().After(deadline) {
			c.h.t.Fatalf("container %s: no log line matching %q after %s (err %v); logs:\n%s",
				c.Name, pattern, timeout, err, Indent(out))
		}
		time.Sleep(logPoll)
	}
}

// FirstConnectOutcome waits for the report of a FirstConnect container and
// returns it (the outcome word and details).
func (c *Container) FirstConnectOutcome(timeout time.Duration) string {
	c.h.t.Helper()
	line := c.WaitForLog(`^first-connect .*$`, timeout)
	return strings.TrimPrefix(line, "first-connect ")
}

// WaitExit waits until the container's process exits and returns its exit
// code; the test fails after timeout.
func (c *Container) WaitExit(timeout time.Duration) int {
	c.h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := c.Inspect().State
		if st != nil && !st.Running && !st.Restarting && st.Status != container.StateCreated {
			return st.ExitCode
		}
		if time.Now().After(deadline) {
			c.h.t.Fatalf("container %s still running after %s", c.Name, timeout)
		}
		time.Sleep(logPoll)
	}
}

func Indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (empty)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
