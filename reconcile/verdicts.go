package reconcile

import (
	"crypto/sha256"
	"encoding/binary"
	"maps"
	"slices"
	"strings"

	"github.com/dcfw/dcfw/labels"
)

// Parsing a container's labels and compiling its policy cost time linear
// in the labels (a policy may hold hundreds of rules of long lists), and
// the labels of a running container never change: they are worked out
// once per distinct set of dcfw labels and remembered while a listed
// container has that set, not again in every cycle.

// labelVerdict is what one set of dcfw labels says.
type labelVerdict struct {
	policy   labels.Policy
	perr     error
	errLines []string         // perr, one problem a line (labelErrorLines)
	ignored  []string         // dcfw.* keys without dcfw.enable (labels.IgnoredKeys)
	near     []labels.Warning // keys meant as dcfw labels that are not (labels.NearMisses)
	// tables are the compiled policy by the ID in its log prefixes (the
	// namespace owner's): the one part that depends on the container.
	tables map[string]*compiledPolicy
	// images are what labels.FromImage says about this label set on each
	// image (by ID) a container with it runs.
	images map[string]*imageCheck
	used   uint64
}

// protects reports whether dcfw writes rules for these labels: a policy,
// or the lockdown that label errors bring.
func (v *labelVerdict) protects() bool {
	return v.perr != nil || v.policy.State == labels.Enabled
}

// imageCheck is the labels a container shares with its image, as label
// errors (perr nil: none).
type imageCheck struct {
	perr     error
	errLines []string
	used     uint64
}

func newImageCheck(errs labels.Errors) *imageCheck {
	if len(errs) == 0 {
		return &imageCheck{}
	}
	return &imageCheck{perr: errs, errLines: labelErrorLines(errs)}
}

type compiledPolicy struct {
	want desired
	err  error
	used uint64
}

// verdictCache remembers labelVerdicts by the set of dcfw labels. Entries
// that no container of a full cycle used are dropped at its end, so it
// holds at most one entry per listed container.
type verdictCache struct {
	entries map[[sha256.Size]byte]*labelVerdict
	cycle   uint64
	// parses, compiles and imageChecks count the work done, for tests.
	parses, compiles, imageChecks int
}

func newVerdictCache() *verdictCache {
	return &verdictCache{entries: map[[sha256.Size]byte]*labelVerdict{}}
}

// of returns the verdict on a container's labels, parsing them only if no
// container had the same dcfw labels before.
func (v *verdictCache) of(lbls map[string]string) *labelVerdict {
	key := labelSetKey(lbls)
	lv := v.entries[key]
	if lv == nil {
		v.parses++
		policy, perr := labels.Parse(lbls)
		lv = &labelVerdict{
			policy:  policy,
			perr:    perr,
			ignored: labels.IgnoredKeys(lbls),
			near:    labels.NearMisses(lbls),
			tables:  map[string]*compiledPolicy{},
			images:  map[string]*imageCheck{},
		}
		if perr != nil {
			lv.errLines = labelErrorLines(perr)
		}
		v.entries[key] = lv
	}
	lv.used = v.cycle
	return lv
}

// want returns the desired table of an enabled verdict whose log prefixes
// carry prefixID, compiling it only the first time.
func (v *verdictCache) want(lv *labelVerdict, prefixID string) (desired, error) {
	cp := lv.tables[prefixID]
	if cp == nil {
		v.compiles++
		d, err := wantStructure(lv.policy, prefixID)
		cp = &compiledPolicy{want: d, err: err}
		lv.tables[prefixID] = cp
	}
	cp.used = v.cycle
	return cp.want, cp.err
}

// fromImage returns what labels.FromImage says about a verdict's labels
// (lbls, any container with them) on an image, calling imageLabels only
// the first time for this pair.
func (v *verdictCache) fromImage(lv *labelVerdict, lbls map[string]string, imageID string, imageLabels func() (map[string]string, error)) (*imageCheck, error) {
	ic := lv.images[imageID]
	if ic == nil {
		il, err := imageLabels()
		if err != nil {
			return nil, err
		}
		v.imageChecks++
		ic = newImageCheck(labels.FromImage(lbls, il))
		lv.images[imageID] = ic
	}
	ic.used = v.cycle
	return ic, nil
}

// startCycle and endCycle bracket a full cycle: what it did not use is
// forgotten at its end.
func (v *verdictCache) startCycle() { v.cycle++ }

func (v *verdictCache) endCycle() {
	maps.DeleteFunc(v.entries, func(_ [sha256.Size]byte, lv *labelVerdict) bool {
		if lv.used != v.cycle {
			return true
		}
		maps.DeleteFunc(lv.tables, func(_ string, cp *compiledPolicy) bool { return cp.used != v.cycle })
		maps.DeleteFunc(lv.images, func(_ string, ic *imageCheck) bool { return ic.used != v.cycle })
		return false
	})
}

// labelSetKey identifies the labels that Parse, IgnoredKeys and NearMisses
// look at (dcfwLike), so that containers that differ only in other labels
// (a compose project's) share one entry.
func labelSetKey(lbls map[string]string) [sha256.Size]byte {
	keys := make([]string, 0, 8)
	for k := range lbls {
		if dcfwLike(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	h := sha256.New()
	var n [8]byte
	for _, k := range keys {
		// Lengths first: no two different sets write the same bytes.
		binary.BigEndian.PutUint64(n[:], uint64(len(k)))
		h.Write(n[:])
		h.Write([]byte(k))
		binary.BigEndian.PutUint64(n[:], uint64(len(lbls[k])))
		h.Write(n[:])
		h.Write([]byte(lbls[k]))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// dcfwLike reports whether a label key may matter to Parse, IgnoredKeys or
// NearMisses: its first four ASCII letters and digits, whatever comes
// between them, are "dcfw" in any case. That covers every key under
// "dcfw." in any case and every near miss (which is "dcfw" and a
// separator once invisible characters and white space are taken out).
func dcfwLike(key string) bool {
	var first [4]byte
	n := 0
	for i := 0; i < len(key) && n < len(first); i++ {
		if b := key[i]; b < 0x80 && (b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z') {
			first[n] = b
			n++
		}
	}
	return n == len(first) && strings.EqualFold(string(first[:]), "dcfw")
}
