package engine

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/dcfw/dcfw/labels"
)

// ErrContainerGone means the engine no longer knows the container (HTTP 404):
// it was removed between listing and inspecting. That is normal churn, not an
// error worth more than a debug line.
var ErrContainerGone = errors.New("container no longer exists")

// ErrImageGone means the engine does not know the image (HTTP 404).
var ErrImageGone = errors.New("image does not exist")

// Container is one running container as the engine lists it.
type Container struct {
	ID          string
	Names       []string // without the leading "/"
	Labels      map[string]string
	NetworkMode NetworkMode
	// ImageID is the ID of the container's image; Image is the name it
	// was created from (for logs).
	ImageID string
	Image   string
	// Networks are the container's addresses (IPv4 and IPv6) on each
	// network it is attached to, by network name, as the listing gives
	// them: the controller answers names on the default bridge from them
	// and drops a stopped container's addresses from every name at once.
	Networks map[string][]netip.Addr
}

// Name is the container's primary name, or its short ID when it has none,
// for logs: escaped and bounded (SafeName), as names are chosen by whoever
// starts the container.
func (c Container) Name() string {
	if len(c.Names) > 0 && c.Names[0] != "" {
		return SafeName(c.Names[0])
	}
	return ShortID(c.ID)
}

// maxLoggedName bounds a container or network name in a log line.
const maxLoggedName = 128

// SafeName is a container or network name for a log field, escaped and
// bounded (labels.SafeText): a raw newline would forge a log line, an
// escape sequence or a bidi override would make it read as something else.
func SafeName(s string) string { return labels.SafeText(s, maxLoggedName) }

// ContainerInfo is what inspecting one container tells the controller.
type ContainerInfo struct {
	ID          string
	Name        string // without the leading "/"
	Running     bool
	PID         int // 0 when not running
	NetworkMode NetworkMode
	// SandboxKey is the engine's path of the container's namespace file
	// (/var/run/docker/netns/<sandbox> on the host); empty for containers
	// that join another container's namespace.
	SandboxKey string
	// DNS are the nameservers the container was given (--dns): the
	// engine's DNS forwards to them, or they are its resolv.conf's on the
	// default bridge. Empty: the host's.
	DNS []netip.Addr
	// The container's own privileges (HostConfig): with CAP_NET_ADMIN or
	// CAP_SYS_ADMIN it can change its own rules (privileges.go). CapAdd
	// and CapDrop as the engine has them (any case, with or without
	// CAP_, or ALL).
	Privileged bool
	CapAdd     []string
	CapDrop    []string
}

// NetworkMode is a container's network mode as the engine reports it:
// "default", "bridge", "host", "none", "container:<id>" or a network name.
type NetworkMode string

// IsHost reports whether the container runs in the host's network namespace.
func (m NetworkMode) IsHost() bool { return m == "host" }

// JoinedContainer returns the ID (or name) of the container whose namespace
// this one joins (network_mode container:X / service:X), or "".
func (m NetworkMode) JoinedContainer() string {
	if id, ok := strings.CutPrefix(string(m), "container:"); ok {
		return id
	}
	return ""
}

// ShortID is the first 12 characters of a container ID, as docker ps shows it
// and as the kernel log prefixes carry it.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
