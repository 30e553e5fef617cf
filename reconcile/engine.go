package reconcile

import (
	"context"
	"time"

	"github.com/dcfw/dcfw/engine"
)

// Engine is what the controller needs from the container engine.
// *moby.Client (engine/moby) is the real one; tests use enginetest.Engine.
type Engine interface {
	// ListRunning returns the containers that are running now.
	ListRunning(ctx context.Context) ([]engine.Container, error)
	// Inspect returns the details of one container. A container that no
	// longer exists yields an error that matches engine.ErrContainerGone.
	Inspect(ctx context.Context, id string) (engine.ContainerInfo, error)
	// Subscribe opens the engine's event stream, starting at since (the
	// engine replays what it buffered after that moment, which closes the
	// gap between subscribing and the first full reconcile). It returns
	// once the engine has accepted the subscription. The stream ends when
	// ctx is cancelled or the connection breaks; see engine.EventStream.
	Subscribe(ctx context.Context, since time.Time) (*engine.EventStream, error)
	// ImageLabels returns the labels of an image (its LABELs, which the
	// engine merges into the labels of its containers), by ID or name. An
	// image that does not exist yields an error that matches
	// engine.ErrImageGone.
	ImageLabels(ctx context.Context, image string) (map[string]string, error)
}
