package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/dcfw/dcfw/internal/harness"

	"github.com/moby/moby/client"

	"github.com/dcfw/dcfw/internal/testenv"
)

// stackPath is the Swarm deployment, relative to the module root.
const stackPath = "deploy/dcfw-stack.yml"

// stackLabel is the label Swarm puts on every container of a stack.
const stackLabel = "com.docker.stack.namespace"

// Stack is dcfw deployed as the README says, `docker stack deploy -c
// deploy/dcfw-stack.yml NAME`, under a name of the test's and with the
// run's image (DCFW_IMAGE, which the stack file takes), beside whatever a
// user deployed.
type Stack struct {
	h    *harness.Harness
	Name string
}

// deployStack deploys the stack file scoped to containers labelled
// scope=<run ID> and returns once its task runs. It is removed (docker
// stack rm) when the test ends, if the test did not remove it.
func deployStack(h *harness.Harness, scope string) (*Stack, *harness.Container) {
	h.T().Helper()
	s := &Stack{h: h, Name: h.UniqueName("stack")}
	image := deployImage(h)
	h.T().Cleanup(func() {
		if err := s.remove(); err != nil {
			h.T().Errorf("docker stack rm %s: %v", s.Name, err)
		}
	})
	if out, err := s.docker(2*time.Minute, []string{"DCFW_IMAGE=" + image, "DCFW_ONLY_LABEL=" + scope + "=" + h.RunID()},
		"stack", "deploy", "--resolve-image", "never", "-c", stackFile(h.T()), s.Name); err != nil {
		h.T().Fatalf("docker stack deploy: %v\n%s", err, harness.Indent(out))
	}
	return s, h.RunningTaskOf(stackLabel, s.Name)
}

func stackFile(t *testing.T) string {
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, stackPath)
}

// Remove is `docker stack rm`, waiting until the stack's containers and
// networks are gone.
func (s *Stack) Remove() {
	s.h.T().Helper()
	if err := s.remove(); err != nil {
		s.h.T().Fatalf("docker stack rm %s: %v", s.Name, err)
	}
}

func (s *Stack) remove() error {
	if out, err := s.docker(time.Minute, nil, "stack", "rm", s.Name); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	if err := s.h.WaitNoContainers(stackLabel, s.Name); err != nil {
		return err
	}
	// The networks go after the tasks; the command does not wait for them.
	deadline := time.Now().Add(harness.SwarmTimeout)
	for {
		ctx, cancel := s.h.Ctx()
		res, err := s.h.Docker().NetworkList(ctx, client.NetworkListOptions{
			Filters: make(client.Filters).Add("label", stackLabel+"="+s.Name),
		})
		cancel()
		switch {
		case err != nil:
			return err
		case len(res.Items) == 0:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("%d networks of stack %s still there after %s", len(res.Items), s.Name, harness.SwarmTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// docker runs the docker command line (the user's way to deploy a stack;
// the API has no stack) with env added.
func (s *Stack) docker(timeout time.Duration, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// requireDockerCLI skips (fails under CI) without the docker command line,
// which `docker stack deploy` needs.
func requireDockerCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("docker stack deploy needs the docker command line: %v", err))
	}
}

// listenOn opens n TCP listeners on addr (port 0: any) in the test's own
// process, which accept and close every connection, and returns their
// ports; they close when the test ends. A task reaches the host's address
// on docker_gwbridge through its eth1, so these are the test's own peers
// on that interface.
func listenOn(t *testing.T, addr string, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
		if err != nil {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err == nil {
					c.Close()
				}
			}
		}()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
