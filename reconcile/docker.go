package reconcile

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Docker is what the controller needs from the container engine. The types
// are reconcile's own, not the engine API's, so that the controller and its
// tests do not depend on one client library version.
type Docker interface {
	// ListRunning returns the containers that are running now.
	ListRunning(ctx context.Context) ([]Container, error)
	// Inspect returns the details of one container. A container that no
	// longer exists yields an error that matches ErrContainerGone.
	Inspect(ctx context.Context, id string) (ContainerInfo, error)
	// Subscribe opens the engine's event stream, starting at since (the
	// engine replays what it buffered after that moment, which closes the
	// gap between subscribing and the first full reconcile). It returns
	// once the engine has accepted the subscription. The stream ends when
	// ctx is cancelled or the connection breaks; see EventStream.
	Subscribe(ctx context.Context, since time.Time) (*EventStream, error)
	// ImageLabels returns the labels of an image (its LABELs, which the
	// engine merges into the labels of its containers), by ID or name. An
	// image that does not exist yields an error that matches ErrImageGone.
	ImageLabels(ctx context.Context, image string) (map[string]string, error)
}

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
}

// Name is the container's primary name, or its short ID when it has none,
// for logs: escaped and bounded (safeName), as names are chosen by whoever
// starts the container.
func (c Container) Name() string {
	if len(c.Names) > 0 && c.Names[0] != "" {
		return safeName(c.Names[0])
	}
	return ShortID(c.ID)
}

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

// EventKind is what happened, reduced to what the controller acts on.
type EventKind int

const (
	EventCreate EventKind = iota + 1
	EventStart
	EventRestart
	EventDie
	EventDestroy
	EventNetworkConnect
	EventNetworkDisconnect
)

var eventKindNames = map[EventKind]string{
	EventCreate:            "create",
	EventStart:             "start",
	EventRestart:           "restart",
	EventDie:               "die",
	EventDestroy:           "destroy",
	EventNetworkConnect:    "network-connect",
	EventNetworkDisconnect: "network-disconnect",
}

func (k EventKind) String() string {
	if s, ok := eventKindNames[k]; ok {
		return s
	}
	return "unknown"
}

// Event is one engine event about a container.
type Event struct {
	Kind        EventKind
	ContainerID string
	// NetworkID and NetworkName are set for network connect/disconnect.
	NetworkID   string
	NetworkName string
	// Attributes are the event's actor attributes as the engine sent them
	// (for container events: name, image and the container's labels).
	Attributes map[string]string
	Time       time.Time
}

// EventStream is an open subscription. Events arrive on C in the engine's
// order. When the stream ends, C is closed and Err then yields why (once).
type EventStream struct {
	C   <-chan Event
	Err <-chan error
}
