package moby

import (
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/dcfw/dcfw/engine"
)

// eventFromMessage maps an engine event to the controller's; false for
// events the controller does not act on.
func eventFromMessage(m events.Message) (engine.Event, bool) {
	ev := engine.Event{Attributes: m.Actor.Attributes}
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
			ev.Kind = engine.EventCreate
		case events.ActionStart:
			ev.Kind = engine.EventStart
		case events.ActionRestart:
			ev.Kind = engine.EventRestart
		case events.ActionDie:
			ev.Kind = engine.EventDie
		case events.ActionDestroy:
			ev.Kind = engine.EventDestroy
		default:
			return engine.Event{}, false
		}
	case events.NetworkEventType:
		// For network events the actor is the network; the container is
		// an attribute.
		ev.ContainerID = m.Actor.Attributes["container"]
		ev.NetworkID = m.Actor.ID
		ev.NetworkName = m.Actor.Attributes["name"]
		switch m.Action {
		case events.ActionConnect:
			ev.Kind = engine.EventNetworkConnect
		case events.ActionDisconnect:
			ev.Kind = engine.EventNetworkDisconnect
		default:
			return engine.Event{}, false
		}
	default:
		return engine.Event{}, false
	}
	if ev.ContainerID == "" {
		return engine.Event{}, false
	}
	return ev, true
}
