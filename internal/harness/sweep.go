package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
)

// tmpDirPID extracts the owner's PID from a run's temporary directory name.
var tmpDirPID = regexp.MustCompile(`^` + TmpDirPrefix + `[0-9a-f]+-pid([0-9]+)-`)

func IsNotFound(err error) bool { return err != nil && cerrdefs.IsNotFound(err) }

// OwnerAlive reports whether the test binary with this PID still runs. A
// resource of a live run (another package's tests, another developer's run
// on the same engine) is never touched.
func OwnerAlive(pidLabel string) bool {
	pid, err := strconv.Atoi(pidLabel)
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// SweepLeftovers removes the containers, networks, images, links and
// temporary directories that runs killed before their cleanup (go test
// -timeout, ^C) left behind.
// Failures are reported on stderr and otherwise ignored: a leftover must
// not fail this run, and a new run only needs what it creates itself.
func SweepLeftovers(docker *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), APITimeout)
	defer cancel()
	warn := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "e2e: sweeping leftovers: "+format+"\n", args...)
	}
	filter := make(client.Filters).Add("label", LabelRun)

	cs, err := docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		warn("list containers: %v", err)
	}
	for _, c := range cs.Items {
		if OwnerAlive(c.Labels[LabelPID]) {
			continue
		}
		if _, err := docker.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !IsNotFound(err) {
			warn("remove container %s: %v", c.ID, err)
		}
	}

	ns, err := docker.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil {
		warn("list networks: %v", err)
	}
	for _, n := range ns.Items {
		if OwnerAlive(n.Labels[LabelPID]) {
			continue
		}
		if _, err := docker.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !IsNotFound(err) {
			warn("remove network %s: %v", n.Name, err)
		}
	}

	is, err := docker.ImageList(ctx, client.ImageListOptions{Filters: filter})
	if err != nil {
		warn("list images: %v", err)
	}
	for _, img := range is.Items {
		if OwnerAlive(img.Labels[LabelPID]) {
			continue
		}
		if _, err := docker.ImageRemove(ctx, img.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil && !IsNotFound(err) {
			warn("remove image %s: %v", img.ID, err)
		}
	}

	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), TmpDirPrefix+"*-pid*-*"))
	for _, d := range dirs {
		m := tmpDirPID.FindStringSubmatch(filepath.Base(d))
		if m == nil || OwnerAlive(m[1]) {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			warn("remove %s: %v", d, err)
		}
	}

	links, err := netlink.LinkList()
	if err != nil {
		warn("list links: %v", err)
	}
	for _, l := range links {
		alias := l.Attrs().Alias
		rest, ok := strings.CutPrefix(alias, "dcfw-e2e pid=")
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, " ")
		if OwnerAlive(pid) {
			continue
		}
		// The peer of a veth deleted just before is gone with it.
		if err := netlink.LinkDel(l); err != nil && !errors.Is(err, syscall.ENODEV) {
			warn("delete link %s: %v", l.Attrs().Name, err)
		}
	}
}
