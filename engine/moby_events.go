package engine

import (
	"time"

	"github.com/moby/moby/api/types/events"
)

// eventFromMessage maps an engine event to the controller's; false for
// events the controller does not act on.
func eventFromMessage(m events.Message) (Event, bool) {
	ev := Event{Attributes: m.Actor.Attributes}
	if m.TimeNano != 0 {
		ev.Time = time.Unix(0, m.TimeNano)
	} else {
		ev.Time = time.Unix(m.Time, 0)
	}
	switch m.Type {
	case events.ContainerEventType:
		ev.ContainerID = m.Actor.ID
		switch m.Action {
		case events.ActionCreate:
			ev.Kind = EventCreate
		case events.ActionStart:
			ev.Kind = EventStart
		case events.ActionRestart:
			ev.Kind = EventRestart
		case events.ActionDie:
			ev.Kind = EventDie
		case events.ActionDestroy:
			ev.Kind = EventDestroy
		default:
			return Event{}, false
		}
	case events.NetworkEventType:
		// For network events the actor is the network; the container is
		// an attribute.
		ev.ContainerID = m.Actor.Attributes["container"]
		ev.NetworkID = m.Actor.ID
		ev.NetworkName = m.Actor.Attributes["name"]
		switch m.Action {
		case events.ActionConnect:
			ev.Kind = EventNetworkConnect
		case events.ActionDisconnect:
			ev.Kind = EventNetworkDisconnect
		default:
			return Event{}, false
		}
	default:
		return Event{}, false
	}
	if ev.ContainerID == "" {
		return Event{}, false
	}
	return ev, true
}
