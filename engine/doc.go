// Package engine is dcfw's view of the container engine: the few facts
// about containers and events the controller acts on (Container,
// ContainerInfo, Event). Package engine/moby gets them from a Docker engine
// through github.com/moby/moby/client; package engine/enginetest is an
// in-memory engine for tests.
//
// The types are dcfw's own, not the engine API's, so that the controller,
// the ruleset compiler and their tests do not depend on one client library
// version.
package engine
