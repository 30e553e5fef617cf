package harness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// Event is an engine event and when this process received it.
type Event struct {
	events.Message
	Received time.Time
}

// At is the engine's own timestamp of the event.
func (e Event) At() time.Time { return time.Unix(0, e.TimeNano) }

func (e Event) String() string {
	return fmt.Sprintf("%s %s %.12s %v", e.Type, e.Action, e.Actor.ID, e.Actor.Attributes)
}

// EventRecorder records the engine's events from the moment it was created
// until the test ends.
type EventRecorder struct {
	h      *Harness
	mu     sync.Mutex
	events []Event
	err    error
	notify chan struct{} // closed and replaced on every event
	onEv   func(Event)
}

// RecordEvents subscribes to the engine's events matching filters (nil:
// all) and records them. It returns once the subscription is active, so
// anything the test does afterwards is seen. onEvent, when not nil, is
// called for each event on the receiving goroutine, before it is recorded
// and before the next event is read: use it to look at the system at the
// exact moment of an event (it must not call t.Fatal).
func (h *Harness) RecordEvents(filters client.Filters, onEvent func(Event)) *EventRecorder {
	h.t.Helper()
	r := &EventRecorder{h: h, onEv: onEvent}
	ctx, cancel := context.WithCancel(context.Background())
	// Events returns after the engine answered the request: the stream is
	// subscribed from then on.
	stream := h.Docker().Events(ctx, client.EventsListOptions{Filters: filters})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case m := <-stream.Messages:
				ev := Event{Message: m, Received: time.Now()}
				if r.onEv != nil {
					r.onEv(ev)
				}
				r.add(ev, nil)
			case err := <-stream.Err:
				if errors.Is(err, context.Canceled) {
					err = nil
				}
				r.add(Event{}, fmt.Errorf("event stream ended: %w", err))
				return
			}
		}
	}()
	h.t.Cleanup(func() { cancel(); <-done })
	return r
}

func (r *EventRecorder) add(ev Event, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.err = err
	} else {
		r.events = append(r.events, ev)
	}
	if r.notify != nil {
		close(r.notify)
		r.notify = nil
	}
}

// Events returns the events recorded so far.
func (r *EventRecorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// WaitFor waits for the first recorded event that match accepts (including
// ones recorded before the call) and returns it; the test fails after
// timeout or when the stream ends.
func (r *EventRecorder) WaitFor(timeout time.Duration, what string, match func(Event) bool) Event {
	r.h.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for _, ev := range r.events {
			if match(ev) {
				r.mu.Unlock()
				return ev
			}
		}
		err := r.err
		if r.notify == nil {
			r.notify = make(chan struct{})
		}
		changed := r.notify
		r.mu.Unlock()
		if err != nil {
			r.h.t.Fatalf("waiting for %s: %v", what, err)
		}
		select {
		case <-changed:
		case <-deadline.C:
			r.h.t.Fatalf("no event %s within %s; recorded:\n%s", what, timeout, r.dump())
		}
	}
}

func (r *EventRecorder) dump() string {
	var s string
	for _, ev := range r.Events() {
		s += "    " + ev.String() + "\n"
	}
	return s
}

// IsEvent returns a matcher for events of type typ and action about the
// object id (a container's ID for container events; for network events the
// container is in the "container" attribute, which is what id is compared
// with).
func IsEvent(typ events.Type, action events.Action, id string) func(Event) bool {
	return func(ev Event) bool {
		if ev.Type != typ || ev.Action != action {
			return false
		}
		if typ == events.NetworkEventType {
			return ev.Actor.Attributes["container"] == id
		}
		return ev.Actor.ID == id
	}
}
