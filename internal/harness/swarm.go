package harness

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// SwarmTimeout bounds the waits of swarm operations: a task scheduled and
// running, a service's containers gone. On one node Swarm takes a few
// seconds for each.
const SwarmTimeout = 60 * time.Second

// RequireSwarm makes the engine a single-node swarm manager for the test.
// A swarm the test found is used as it is; one the test created is left
// (docker swarm leave --force) when the test ends, so the engine is as
// the test found it.
func (h *Harness) RequireSwarm() {
	h.t.Helper()
	ctx, cancel := h.Ctx()
	defer cancel()
	info, err := h.Docker().Info(ctx, client.InfoOptions{})
	if err != nil {
		h.t.Fatalf("engine info: %v", err)
	}
	switch st := info.Info.Swarm; {
	case st.LocalNodeState == swarm.LocalNodeStateActive && st.ControlAvailable:
		return
	case st.LocalNodeState != swarm.LocalNodeStateInactive:
		h.t.Fatalf("the engine is in a swarm (%s) but not its manager here; the swarm tests need a manager", st.LocalNodeState)
	}
	// The engine makes docker_gwbridge for the first overlay task and keeps
	// it after the swarm is left: one this test caused goes with the swarm.
	hadGwbridge := h.networkExists("docker_gwbridge")
	// Loopback: the swarm's one node talks to itself only, and no port is
	// opened to the machine's network.
	if _, err := h.Docker().SwarmInit(ctx, client.SwarmInitOptions{
		ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1",
	}); err != nil {
		h.t.Fatalf("docker swarm init: %v", err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := h.Ctx()
		defer cancel()
		if _, err := h.Docker().SwarmLeave(ctx, client.SwarmLeaveOptions{Force: true}); err != nil {
			h.t.Errorf("docker swarm leave --force (the swarm this test created): %v", err)
			return
		}
		if !hadGwbridge && h.networkExists("docker_gwbridge") {
			if err := h.RemoveNetwork("docker_gwbridge"); err != nil {
				h.t.Errorf("remove docker_gwbridge (made for this test's swarm): %v", err)
			}
		}
	})
}

// networkExists reports whether the engine has a network of that name.
func (h *Harness) networkExists(name string) bool {
	h.t.Helper()
	ctx, cancel := h.Ctx()
	defer cancel()
	_, err := h.Docker().NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil && !IsNotFound(err) {
		h.t.Fatalf("inspect network %s: %v", name, err)
	}
	return err == nil
}

// Overlay creates an attachable overlay network for the test, so that
// both service tasks and plain containers can join it, with a subnet no
// one else uses; it is removed when the test ends. It needs RequireSwarm.
func (h *Harness) Overlay() *Network {
	return h.CreateNetwork(NetworkSpec{Label: "ov", Driver: "overlay"})
}

// ServiceSpec says what service to create: replicated, one task of the
// test peer image.
type ServiceSpec struct {
	Name string // goes into the unique service name
	Cmd  []string
	// ContainerLabels are the task containers' labels (the run's are
	// added); dcfw reads these, not the service's labels.
	ContainerLabels map[string]string
	Network         *Network
}

// Service is a Swarm service created for one test; it is removed, and its
// containers waited for, when the test ends.
type Service struct {
	h    *Harness
	ID   string
	Name string
}

// CreateService creates the service and returns once it exists (its task
// may not run yet: see RunningTask).
func (h *Harness) CreateService(spec ServiceSpec) *Service {
	h.t.Helper()
	s := &Service{h: h, Name: h.UniqueName(spec.Name)}
	cmd := spec.Cmd
	if cmd == nil {
		cmd = Sleep()
	}
	one := uint64(1)
	sspec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: s.Name, Labels: h.Labels(nil)},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image: h.TestImage(), Args: cmd, Labels: h.Labels(spec.ContainerLabels),
			},
			// A task that ends is not replaced behind the test's back.
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
	}
	if spec.Network != nil {
		sspec.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: spec.Network.ID}}
	}
	ctx, cancel := h.Ctx()
	defer cancel()
	// QueryRegistry false: the image is local (--resolve-image never).
	res, err := h.Docker().ServiceCreate(ctx, client.ServiceCreateOptions{Spec: sspec})
	if err != nil {
		h.t.Fatalf("create service %s: %v", s.Name, err)
	}
	s.ID = res.ID
	h.t.Cleanup(func() {
		if err := s.remove(); err != nil {
			h.t.Errorf("remove service %s: %v", s.Name, err)
		}
	})
	return s
}

// ForceUpdate reschedules the service's task (docker service update
// --force): the old task's container stops, a new one starts.
func (s *Service) ForceUpdate() {
	s.h.t.Helper()
	ctx, cancel := s.h.Ctx()
	defer cancel()
	cur, err := s.h.Docker().ServiceInspect(ctx, s.ID, client.ServiceInspectOptions{})
	if err != nil {
		s.h.t.Fatalf("inspect service %s: %v", s.Name, err)
	}
	spec := cur.Service.Spec
	spec.TaskTemplate.ForceUpdate++
	if _, err := s.h.Docker().ServiceUpdate(ctx, s.ID, client.ServiceUpdateOptions{
		Version: cur.Service.Version, Spec: spec,
	}); err != nil {
		s.h.t.Fatalf("update --force service %s: %v", s.Name, err)
	}
}

// RunningTask waits until the service has a running task container other
// than those in skip (container IDs), and returns it as a Container (not
// removed by the harness: Swarm owns it).
func (s *Service) RunningTask(skip ...*Container) *Container {
	s.h.t.Helper()
	return s.h.RunningTaskOf("com.docker.swarm.service.id", s.ID, skip...)
}

// RunningTaskOf waits until a running container carries label key=value
// (a Swarm task's service or stack label) and is none of skip.
func (h *Harness) RunningTaskOf(key, value string, skip ...*Container) *Container {
	h.t.Helper()
	deadline := time.Now().Add(SwarmTimeout)
	for {
		ctx, cancel := h.Ctx()
		res, err := h.Docker().ContainerList(ctx, client.ContainerListOptions{
			Filters: make(client.Filters).Add("label", key+"="+value).Add("status", "running"),
		})
		cancel()
		if err != nil {
			h.t.Fatalf("list the containers of %s=%s: %v", key, value, err)
		}
	next:
		for _, c := range res.Items {
			for _, k := range skip {
				if k != nil && k.ID == c.ID {
					continue next
				}
			}
			name := c.ID
			if len(c.Names) > 0 {
				name = strings.TrimPrefix(c.Names[0], "/")
			}
			return &Container{h: h, ID: c.ID, Name: name}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no running task container with %s=%s after %s", key, value, SwarmTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// remove removes the service and waits until its containers are gone, so
// that the network it used can be removed after it.
func (s *Service) remove() error {
	ctx, cancel := s.h.Ctx()
	defer cancel()
	if _, err := s.h.Docker().ServiceRemove(ctx, s.ID, client.ServiceRemoveOptions{}); err != nil && !IsNotFound(err) {
		return err
	}
	return s.h.WaitNoContainers("com.docker.swarm.service.id", s.ID)
}

// WaitNoContainers waits until no container, running or not, carries
// label key=value.
func (h *Harness) WaitNoContainers(key, value string) error {
	deadline := time.Now().Add(SwarmTimeout)
	for {
		ctx, cancel := h.Ctx()
		res, err := h.Docker().ContainerList(ctx, client.ContainerListOptions{
			All: true, Filters: make(client.Filters).Add("label", key+"="+value),
		})
		cancel()
		if err != nil {
			return err
		}
		if len(res.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d containers with %s=%s still there after %s", len(res.Items), key, value, SwarmTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// GatewayBridge is the address of the host on docker_gwbridge, the bridge
// that gives overlay tasks their second interface (eth1) and their way
// out: traffic from a task to it leaves through eth1.
func (h *Harness) GatewayBridge() netip.Addr {
	h.t.Helper()
	ctx, cancel := h.Ctx()
	defer cancel()
	res, err := h.Docker().NetworkInspect(ctx, "docker_gwbridge", client.NetworkInspectOptions{})
	if err != nil {
		h.t.Fatalf("inspect docker_gwbridge (made by the engine for the first overlay task): %v", err)
	}
	for _, c := range res.Network.IPAM.Config {
		if gw := c.Gateway; gw.IsValid() && gw.Is4() {
			return gw
		}
	}
	h.t.Fatalf("docker_gwbridge has no IPv4 gateway: %+v", res.Network.IPAM.Config)
	return netip.Addr{}
}
