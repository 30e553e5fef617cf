package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/labels"
)

// The engine merges an image's LABELs into its containers' labels, so an
// image could bring its own firewall rules (an allow first in a chain).
// dcfw takes rules from the deployer only: a dcfw label that has the same
// key and value on the container's image is a label error (labels.FromImage).

// ImageLabels says what to do with dcfw labels a container shares with
// its image.
type ImageLabels int

const (
	// ImageLabelsLockdown (the default) treats them as label errors.
	ImageLabelsLockdown ImageLabels = iota
	// ImageLabelsTrust takes them like the container's own.
	ImageLabelsTrust
)

// ParseImageLabels parses the --image-labels flag value.
func ParseImageLabels(s string) (ImageLabels, error) {
	switch s {
	case "lockdown":
		return ImageLabelsLockdown, nil
	case "trust":
		return ImageLabelsTrust, nil
	}
	return 0, fmt.Errorf("invalid image-labels mode %q: want lockdown or trust", s)
}

func (m ImageLabels) String() string {
	if m == ImageLabelsTrust {
		return "trust"
	}
	return "lockdown"
}

// imageCache keeps the dcfw-like labels of images by ID: an image never
// changes, so each is asked for once while a listed container uses it.
type imageCache map[string]map[string]string

// keepOnly forgets the images no listed container uses.
func (ic imageCache) keepOnly(list []engine.Container) {
	used := make(map[string]bool, len(list))
	for _, ctr := range list {
		used[ctr.ImageID] = true
	}
	maps.DeleteFunc(ic, func(id string, _ map[string]string) bool { return !used[id] })
}

// dcfwLabelsOnly keeps the labels FromImage may compare: the rest of an
// image's labels need not be remembered.
func dcfwLabelsOnly(lbls map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range lbls {
		if dcfwLike(k) {
			out[k] = v
		}
	}
	return out
}

// imageLabels returns the dcfw-like labels of an image by ID, asking the
// engine only for an image not seen before.
func (c *Controller) imageLabels(ctx context.Context, id string) (map[string]string, error) {
	if l, ok := c.images[id]; ok {
		return l, nil
	}
	if c.engine.stalled {
		return nil, errEngineDown
	}
	d := c.callTimeout()
	callCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	l, err := c.cfg.Engine.ImageLabels(callCtx, id)
	if timedOut(ctx, err) {
		err = fmt.Errorf("inspect image %s: no answer within %s: %w", engine.ShortID(trimDigest(id)), d, err)
		c.engine.stalled = true
		c.engineTrouble(err)
	}
	if err != nil {
		return nil, err
	}
	l = dcfwLabelsOnly(l)
	c.images[id] = l
	return l, nil
}

// imageErrors returns what labels.FromImage says about a container's
// labels and its image (nil: nothing comes from the image, or the check
// is off), through the verdict of its label set so that a steady cycle
// asks nothing. An image the engine no longer knows cannot be checked:
// that is a label error too (fail closed). Other failures are returned
// (and logged): the container is left for the next cycle, as when it
// cannot be inspected.
func (c *Controller) imageErrors(ctx context.Context, ctr engine.Container, lv *labelVerdict) (*imageCheck, error) {
	if c.cfg.ImageLabels == ImageLabelsTrust || ctr.ImageID == "" {
		return nil, nil
	}
	ic, err := c.verdicts.fromImage(lv, ctr.Labels, ctr.ImageID, func() (map[string]string, error) {
		return c.imageLabels(ctx, ctr.ImageID)
	})
	if errors.Is(err, engine.ErrImageGone) {
		// Not remembered: asked again in the next cycle.
		return newImageCheck(labels.Errors{&labels.Error{Offset: -1, Err: labels.ErrFromImage,
			Msg: "the labels of the container's image cannot be read (" + safeText(err.Error()) + "), so dcfw cannot tell its own labels from the image's"}}), nil
	}
	if err != nil {
		if !c.engine.stalled {
			c.logError("image:"+ctr.ID, "cannot read the labels of the container's image; not reconciled this cycle", err,
				zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)), zap.String("image", engine.SafeName(ctr.Image)))
		}
		return nil, err
	}
	c.errs.clear("image:" + ctr.ID)
	return ic, nil
}

// trimDigest drops the "sha256:" of an image ID, for logs.
func trimDigest(id string) string {
	if len(id) > 7 && id[:7] == "sha256:" {
		return id[7:]
	}
	return id
}
