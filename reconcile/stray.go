package reconcile

import (
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/labels"
)

// Labels that were meant for dcfw but that it does not read leave a
// container less protected than its labels seem to say, without any
// error: these warnings are how a person finds out.

// warnIgnoredLabels warns about dcfw.* labels on a container without
// dcfw.enable: most likely a forgotten or misspelt dcfw.enable, which
// leaves the container unprotected. Keys that are near misses get their
// own warning (warnNearMisses), with the key they most likely mean.
func (c *Controller) warnIgnoredLabels(ctr engine.Container, keys []string, near []labels.Warning) {
	keys = slices.DeleteFunc(slices.Clone(keys), func(k string) bool {
		return slices.ContainsFunc(near, func(w labels.Warning) bool { return w.Key == k })
	})
	if len(keys) == 0 {
		c.errs.clear("ignored:" + ctr.ID)
		return
	}
	if c.errs.allow("ignored:"+ctr.ID, strings.Join(keys, "\n"), c.now()) {
		c.log.Warn("container has dcfw labels but no dcfw.enable label; it is not managed",
			zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID)),
			zap.Int("label_count", len(keys)), zap.Strings("labels", safeKeys(keys)))
	}
}

// warnNearMisses warns, once per change of the set, about each label of
// the container that looks like a dcfw label but is not one
// (labels.NearMisses): DCFW.enable, dcfw-output.policy, a zero-width space
// in the key. Managed or not: a container whose only dcfw label is
// DCFW.enable=true is not managed at all. The near misses that Parse
// reports itself (another case of "dcfw.", on a container with
// dcfw.enable) are left to its error.
func (c *Controller) warnNearMisses(ctr engine.Container, near []labels.Warning, managed bool) {
	if managed {
		near = slices.DeleteFunc(slices.Clone(near), func(w labels.Warning) bool { return underPrefix(w.Key) })
	}
	if len(near) == 0 {
		c.errs.clear("nearmiss:" + ctr.ID)
		return
	}
	lines := make([]string, len(near))
	for i, w := range near {
		lines[i] = w.String()
	}
	if !c.errs.allow("nearmiss:"+ctr.ID, strings.Join(lines, "\n"), c.now()) {
		return
	}
	for i, w := range near {
		fields := []zap.Field{zap.String("container", ctr.Name()), zap.String("id", engine.ShortID(ctr.ID))}
		if w.Key != "" {
			fields = append(fields, zap.String("label", labels.SafeText(w.Key, maxLoggedKey)))
		}
		if w.Suggestion != "" {
			fields = append(fields, zap.String("did_you_mean", labels.SafeText(w.Suggestion, maxLoggedKey)))
		}
		// The line is bounded and escaped by labels (Warning.String).
		c.log.Warn("label ignored: it looks like a dcfw label but is not one; "+
			"the container is not protected as this label says", append(fields, zap.String("problem", lines[i]))...)
	}
}

// underPrefix reports whether key starts with "dcfw." in any case: a key
// Parse reads (and reports when it is wrong) on a container with
// dcfw.enable.
func underPrefix(key string) bool {
	return len(key) >= len(labels.Prefix) && strings.EqualFold(key[:len(labels.Prefix)], labels.Prefix)
}
