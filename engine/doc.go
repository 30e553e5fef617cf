// Package engine is dcfw's view of the container engine: the few facts
// about containers and events the controller acts on (Container,
// ContainerInfo, Event), and Moby, the adapter that gets them from a
// Docker engine through github.com/moby/moby/client.
//
// The types are dcfw's own, not the engine API's, so that the controller
// and its tests do not depend on one client library version.
package engine
