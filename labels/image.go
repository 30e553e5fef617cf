package labels

import (
	"errors"
	"slices"
)

// ErrFromImage: a dcfw label of a container has the same key and value as
// a label of its image. Docker merges an image's LABELs into its
// containers' labels, so an image could add rules (an allow first in a
// chain) to a firewall that is the deployer's to write.
var ErrFromImage = errors.New("label comes from the image")

// FromImage returns an error for each dcfw label (any case of the prefix)
// of a container that the container's image has with the same value,
// sorted by key and at most MaxErrors of them. Which of those the deployer
// also wrote cannot be told: the caller treats them as label errors (fail
// closed). A deployer makes a label their own by writing it on the
// container with another spelling of the same meaning (yes for true,
// another case or spacing), which never equals the image's.
func FromImage(container, image map[string]string) Errors {
	var keys []string
	for k, v := range container {
		if iv, ok := image[k]; ok && iv == v && hasPrefix(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var errs Errors
	for i, k := range keys {
		if i == MaxErrors {
			errs[len(errs)-1] = &Error{Offset: -1, Err: ErrFromImage,
				Msg: Quote(k, maxQuotedKey) + " and more labels come from the image too"}
			break
		}
		errs = append(errs, &Error{Key: k, Value: container[k], Offset: -1, Err: ErrFromImage,
			Msg:  "the label comes from the container's image (same key and value): dcfw takes its rules from the container's own labels only",
			Hint: "set it on the container with your own spelling (yes for true, another case or spacing), or start dcfw with --image-labels=trust"})
	}
	return errs
}
