package moby

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/dcfw/dcfw/engine"
)

func TestEventFromMessage(t *testing.T) {
	const id = "b17492e3d1482783637ed54ee3ab632bfa0db54fa39f01a9670f75c5efdc8f71"
	tests := []struct {
		name string
		m    events.Message
		want engine.Event
		ok   bool
	}{
		{
			name: "container start",
			m: events.Message{Type: events.ContainerEventType, Action: events.ActionStart, TimeNano: 5,
				Actor: events.Actor{ID: id, Attributes: map[string]string{"name": "web", "dcfw.enable": "true"}}},
			want: engine.Event{Kind: engine.EventStart, ContainerID: id, Time: time.Unix(0, 5),
				Attributes: map[string]string{"name": "web", "dcfw.enable": "true"}},
			ok: true,
		},
		{
			name: "network connect carries the container as an attribute",
			m: events.Message{Type: events.NetworkEventType, Action: events.ActionConnect, Time: 7,
				Actor: events.Actor{ID: "netid", Attributes: map[string]string{"container": id, "name": "bridge", "type": "bridge"}}},
			want: engine.Event{Kind: engine.EventNetworkConnect, ContainerID: id, NetworkID: "netid", NetworkName: "bridge", Time: time.Unix(7, 0),
				Attributes: map[string]string{"container": id, "name": "bridge", "type": "bridge"}},
			ok: true,
		},
		{name: "exec is ignored", m: events.Message{Type: events.ContainerEventType, Action: "exec_start: sh", Actor: events.Actor{ID: id}}},
		{name: "network create is ignored", m: events.Message{Type: events.NetworkEventType, Action: events.ActionCreate, Actor: events.Actor{ID: "n"}}},
		{name: "image events are ignored", m: events.Message{Type: events.ImageEventType, Action: events.ActionDelete, Actor: events.Actor{ID: "i"}}},
	}
	for _, tt := range tests {
		got, ok := eventFromMessage(tt.m)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v", tt.name, ok)
			continue
		}
		if !ok {
			continue
		}
		if got.Kind != tt.want.Kind || got.ContainerID != tt.want.ContainerID || got.NetworkID != tt.want.NetworkID ||
			got.NetworkName != tt.want.NetworkName || !got.Time.Equal(tt.want.Time) || len(got.Attributes) != len(tt.want.Attributes) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
