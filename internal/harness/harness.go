// Package harness is what dcfw's end-to-end tests (e2e/) and its
// benchmarks against the Docker engine (bench/) are written with: dcfw runs
// against the real Docker engine of this machine, and traffic is checked
// from inside real containers. It is internal: a way to write those tests,
// not an API.
//
// For example:
//
//	func TestWebServer(t *testing.T) {
//		h := harness.Setup(t) // skips (fails under CI) without Docker or root
//		n := h.Bridge()       // a fresh bridge network with its own subnet
//		web := h.RunContainer(harness.ContainerSpec{
//			Name: "web", Network: n, Cmd: harness.Serve(80),
//			Labels: map[string]string{"dcfw.enable": "true", "dcfw.input.rule.1": "allow proto tcp to any port 80"},
//		})
//		cli := h.RunContainer(harness.ContainerSpec{Name: "client", Network: n})
//		dcfw := h.StartDcfw("--interval", "1s")
//		dcfw.WaitForLog(`protected.*web`, 10*time.Second)
//		if got := cli.Connect("tcp", web.Addr(n, 80)); got != testpeer.Connected {
//			t.Errorf("port 80: %v, want connected", got)
//		}
//	}
//
// Everything a test creates (containers, networks, macvlan parent links,
// images, dcfw processes) is labelled or named with the run's ID and removed
// in t.Cleanup, also when the test fails. Containers run the test image,
// built once per test binary from internal/testpeer (FROM scratch plus that
// static binary: no registry is reachable here); their command line is the
// test peer's (Serve, Sleep, FirstConnect build it).
//
// Be aware:
//   - The harness needs root: it reads container namespaces with nsenter and
//     creates links with netlink. Setup skips the test without root or
//     without a reachable engine, and fails it when CI is set.
//   - The run's labels are deliberately NOT under "dcfw.": dcfw treats every
//     unknown dcfw.* key as a typo and locks the container down.
//   - Addresses come from 10.231.0.0/16 (one /24 per network) and
//     fd00:dcf::/48 (one /64), skipping any subnet the host routes or another
//     Docker network uses. They exist only on the bridges and parent links
//     the tests create; bridge networks are created `internal` (no gateway
//     to the outside) and macvlan parents are isolated links, so test
//     traffic cannot leave the machine.
//   - This kernel may lack the dummy and ipvlan link types (the CI kernel
//     does): a macvlan parent is then a veth pair with no address instead
//     of a dummy; macvlan containers on one parent reach each other either
//     way (bridge mode), but never the host.
//   - A test binary that is killed (go test -timeout, ^C) cannot clean up.
//     The next run removes what dead runs left behind (their owner PID is
//     in the labels and link aliases), and nothing that a live run owns.
//   - Calls that fail the test (t.Fatal) must come from the test's own
//     goroutine; from other goroutines use the Try* variants.
package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/dcfw/dcfw/internal/testenv"
)

// Labels that mark what a test run created. Not under "dcfw.": see above.
const (
	LabelRun = "dcfw-e2e.run" // the run ID
	LabelPID = "dcfw-e2e.pid" // the PID of the test binary that owns it
)

// TmpDirPrefix starts the name of a run's temporary directory (in
// os.TempDir), followed by the run ID and "-pid<PID>-", so that the sweep
// can remove the directories of killed runs.
const TmpDirPrefix = "dcfw-e2e-"

// APITimeout bounds every single Docker API call the harness makes, so a
// hung engine fails the test instead of hanging it until go test's timeout.
const APITimeout = 2 * time.Minute

// shared is what all tests of one test binary share: the engine connection,
// the run ID and the test image. It is set up on first use, so tests that do
// not need Docker never pay for it, and torn down by Main.
type shared struct {
	docker *client.Client
	runID  string
	tmpDir string // binaries and build contexts of this run
	image  string // tag of the test peer image

	mu       sync.Mutex
	teardown []func() error // run in reverse order by Main
}

var (
	sharedOnce sync.Once
	sharedEnv  *shared
	sharedErr  error
	// errNoDocker marks setup failures that mean "no engine here" (skip),
	// as opposed to a broken engine or harness (fail).
	errNoDocker = errors.New("docker engine not reachable")
)

// Harness is one test's handle on the engine. Everything it creates is
// removed when the test ends.
type Harness struct {
	t   *testing.T
	env *shared
}

// Setup returns the harness for t, connecting to the engine and building
// the test image on first use. It skips t (fails it when CI is set) when
// the process is not root or no Docker engine answers.
func Setup(t *testing.T) *Harness {
	t.Helper()
	testenv.RequireNetAdmin(t)
	sharedOnce.Do(func() { sharedEnv, sharedErr = setupShared() })
	if errors.Is(sharedErr, errNoDocker) {
		testenv.SkipOrFail(t, sharedErr.Error())
	}
	if sharedErr != nil {
		t.Fatalf("e2e harness setup: %v", sharedErr)
	}
	return &Harness{t: t, env: sharedEnv}
}

// Main runs the tests and then removes what the run shared (the test image,
// built binaries). Use it from the package's TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(e2e.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if sharedEnv != nil {
		if err := sharedEnv.close(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: teardown: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

func setupShared() (*shared, error) {
	docker, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoDocker, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := docker.Ping(ctx, client.PingOptions{}); err != nil {
		docker.Close()
		return nil, fmt.Errorf("%w at %s (start it, e.g. systemctl start docker, or run scripts/test.sh): %v",
			errNoDocker, docker.DaemonHost(), err)
	}
	s := &shared{docker: docker, runID: newRunID()}
	s.tmpDir, err = os.MkdirTemp("", TmpDirPrefix+s.runID+"-pid"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		docker.Close()
		return nil, err
	}
	s.onTeardown(func() error { return os.RemoveAll(s.tmpDir) })
	s.onTeardown(docker.Close)

	// Left over by killed runs: removed before this run adds its own.
	SweepLeftovers(docker)

	if s.image, err = s.buildTestPeerImage(); err != nil {
		s.close()
		return nil, fmt.Errorf("build test image: %w", err)
	}
	return s, nil
}

func (s *shared) onTeardown(f func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.teardown = append(s.teardown, f)
}

func (s *shared) close() error {
	s.mu.Lock()
	fs := s.teardown
	s.teardown = nil
	s.mu.Unlock()
	var errs []error
	for i := len(fs) - 1; i >= 0; i-- {
		errs = append(errs, fs[i]())
	}
	return errors.Join(errs...)
}

// newRunID is short (it goes into names limited in length) and unique
// enough for the runs alive on one machine at a time.
func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runLabels are the labels of everything this run creates.
func (s *shared) runLabels() map[string]string {
	return map[string]string{LabelRun: s.runID, LabelPID: strconv.Itoa(os.Getpid())}
}

// T returns the test this harness belongs to.
func (h *Harness) T() *testing.T { return h.t }

// Docker returns the engine client (API version negotiated; DOCKER_HOST is
// respected), for calls the harness does not wrap.
func (h *Harness) Docker() *client.Client { return h.env.docker }

// RunID identifies this test binary's run in names and labels.
func (h *Harness) RunID() string { return h.env.runID }

// TestImage is the tag of the test peer image.
func (h *Harness) TestImage() string { return h.env.image }

// TempDir is a directory shared by the whole run (removed by Main).
func (h *Harness) TempDir() string { return h.env.tmpDir }

// Labels returns the labels that mark what this run creates, merged with
// extra (extra wins).
func (h *Harness) Labels(extra map[string]string) map[string]string {
	l := h.env.runLabels()
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// UniqueName returns a Docker object name unique in this run:
// dcfwe2e-<run>-<test-local sequence>-<label>.
func (h *Harness) UniqueName(label string) string {
	n := nameSeq.Add(1)
	if label == "" {
		label = "x"
	}
	return fmt.Sprintf("dcfwe2e-%s-%d-%s", h.env.runID, n, label)
}

// nameSeq is process-wide: parallel tests never pick the same name.
var nameSeq atomic.Int64

// Ctx is the context of one API call. Not t.Context(): that one is
// cancelled before cleanups run, and cleanups call the API too.
func (h *Harness) Ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), APITimeout)
}

// ModuleRoot finds the directory of go.mod above the working directory
// (go test runs a package's tests in the package's directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}
