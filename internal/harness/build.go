package harness

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// TestPeerPath is where the test peer binary lives inside the test image;
// it is also the image's entrypoint.
const TestPeerPath = "/dcfw-testpeer"

// TestPeerPackage is the main package of the test peer, relative to the
// module root.
const TestPeerPackage = "./internal/testpeer/cmd/dcfw-testpeer"

// BuildTimeout bounds one `go build` or image build. A cold build of the
// whole module on two cores takes well under a minute.
const BuildTimeout = 10 * time.Minute

// GoCommand finds the go command that built this test binary: GOROOT is set
// in the environment when the go command switched toolchains (GOTOOLCHAIN),
// and otherwise the go on PATH is the one that ran `go test`.
func GoCommand() (string, error) {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build test binaries: %w", err)
	}
	return p, nil
}

// goBuild builds the main package pkg (relative to the module root, e.g.
// "." or "./internal/testpeer/cmd/dcfw-testpeer") into the file out, as a
// static binary (CGO_ENABLED=0) so it also runs in a FROM scratch image.
func goBuild(pkg, out string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	goBin, err := GoCommand()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build -o %s %s (in %s): %v\n%s", out, pkg, root, err, output)
	}
	return nil
}

// builtBinaries caches goBuild per package for the whole run: each package
// is built once, however many tests ask for it.
var builtBinaries struct {
	mu   sync.Mutex
	byPk map[string]*builtBinary
}

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// BuildBinary builds the main package pkg of this module (relative to the
// module root) once per run and returns the binary's path. A build failure
// fails the test with the compiler's output.
func (h *Harness) BuildBinary(pkg string) string {
	h.t.Helper()
	p, err := h.env.buildBinary(pkg)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (s *shared) buildBinary(pkg string) (string, error) {
	builtBinaries.mu.Lock()
	if builtBinaries.byPk == nil {
		builtBinaries.byPk = map[string]*builtBinary{}
	}
	b, ok := builtBinaries.byPk[pkg]
	if !ok {
		b = &builtBinary{}
		builtBinaries.byPk[pkg] = b
	}
	builtBinaries.mu.Unlock()
	b.once.Do(func() {
		name := filepath.Base(filepath.Clean(pkg))
		if name == "." {
			name = "dcfw"
		}
		dir, err := os.MkdirTemp(s.tmpDir, "bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		b.err = goBuild(pkg, b.path)
	})
	return b.path, b.err
}

// ImageFile is one file of an image build context.
type ImageFile struct {
	Name    string // path in the build context, e.g. "Dockerfile"
	Mode    int64  // e.g. 0o755 for a binary; 0 means 0o644
	Content []byte
}

// BuildImage builds an image from the given context files (one of them the
// Dockerfile) through the engine API, tags it with a unique name derived
// from label and returns the tag. The image is removed when the test ends.
// Dockerfiles must not need a registry (FROM scratch and COPY only).
func (h *Harness) BuildImage(label string, files ...ImageFile) string {
	h.t.Helper()
	tag, err := h.TryBuildImage(label, files...)
	if err != nil {
		h.t.Fatal(err)
	}
	return tag
}

// TryBuildImage is BuildImage that returns the build's error (a
// Dockerfile's included) instead of failing the test.
func (h *Harness) TryBuildImage(label string, files ...ImageFile) (string, error) {
	h.t.Helper()
	tag := strings.ToLower(h.UniqueName(label)) + ":e2e"
	if err := h.env.buildImage(tag, files); err != nil {
		return "", fmt.Errorf("build image %s: %w", tag, err)
	}
	h.t.Cleanup(func() {
		if err := h.env.removeImage(tag); err != nil {
			h.t.Errorf("remove image %s: %v", tag, err)
		}
	})
	return tag, nil
}

// BuildRunImage builds an image that all tests of the run share (built
// once, by the caller's sync.Once), tagged name:<run ID>, and removes it
// when the run ends (Main), not when the calling test does.
func (h *Harness) BuildRunImage(name string, files ...ImageFile) (string, error) {
	tag := name + ":" + h.env.runID
	if err := h.env.buildImage(tag, files); err != nil {
		return "", err
	}
	h.env.onTeardown(func() error { return h.env.removeImage(tag) })
	return tag, nil
}

// buildTestPeerImage builds the image every test container runs: the test
// peer alone, as entrypoint, with `sleep` as the default command.
func (s *shared) buildTestPeerImage() (string, error) {
	bin, err := s.buildBinary(TestPeerPackage)
	if err != nil {
		return "", err
	}
	content, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	dockerfile := fmt.Sprintf("FROM scratch\nCOPY dcfw-testpeer %s\nENTRYPOINT [%q]\nCMD [\"sleep\"]\n",
		TestPeerPath, TestPeerPath)
	tag := "dcfwe2e-testpeer:" + s.runID
	if err := s.buildImage(tag, []ImageFile{
		{Name: "Dockerfile", Content: []byte(dockerfile)},
		{Name: "dcfw-testpeer", Mode: 0o755, Content: content},
	}); err != nil {
		return "", err
	}
	s.onTeardown(func() error { return s.removeImage(tag) })
	return tag, nil
}

func (s *shared) buildImage(tag string, files []ImageFile) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{
			Name: f.Name, Mode: mode, Size: int64(len(f.Content)), ModTime: time.Unix(0, 0),
		}); err != nil {
			return err
		}
		if _, err := tw.Write(f.Content); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	resp, err := s.docker.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Labels:      s.runLabels(),
		Remove:      true,
		ForceRemove: true,
		// The classic builder: BuildKit through the API needs a session,
		// and FROM scratch + COPY needs nothing BuildKit adds.
		Version: build.BuilderV1,
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return readBuildStream(resp.Body)
}

// readBuildStream consumes the build's JSON message stream and returns the
// error the engine reported, with the build output for context. The HTTP
// status of a failed build is 200: the error is only in the stream.
func readBuildStream(r io.Reader) error {
	var out strings.Builder
	dec := json.NewDecoder(r)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading build output: %w\n%s", err, out.String())
		}
		out.WriteString(m.Stream)
		if m.Error != nil {
			return fmt.Errorf("%s\n%s", m.Error.Message, out.String())
		}
	}
}

func (s *shared) removeImage(tag string) error {
	ctx, cancel := context.WithTimeout(context.Background(), APITimeout)
	defer cancel()
	_, err := s.docker.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	if IsNotFound(err) {
		return nil
	}
	return err
}
