package engine

import "time"

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
