package labels

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestFromImage(t *testing.T) {
	image := map[string]string{
		"dcfw.output.rule.0": "allow",
		"dcfw.enable":        "true",
		"maintainer":         "someone",
		"DCFW.input.policy":  "allow",
	}
	for _, c := range []struct {
		name      string
		container map[string]string
		want      []string // keys
	}{
		{"no dcfw labels", map[string]string{"maintainer": "someone"}, nil},
		{"inherited rule and enable", map[string]string{"dcfw.output.rule.0": "allow", "dcfw.enable": "true", "dcfw.output.policy": "deny"},
			[]string{"dcfw.enable", "dcfw.output.rule.0"}},
		{"restated in another spelling", map[string]string{"dcfw.output.rule.0": "Allow", "dcfw.enable": "yes"}, nil},
		{"a near-miss prefix counts too", map[string]string{"DCFW.input.policy": "allow"}, []string{"DCFW.input.policy"}},
		{"other labels of the image do not", map[string]string{"maintainer": "someone", "dcfw.enable": "1"}, nil},
	} {
		errs := FromImage(c.container, image)
		var got []string
		for _, e := range errs {
			got = append(got, e.Key)
			if !errors.Is(e, ErrFromImage) || !strings.Contains(e.Error(), "comes from the container's image") {
				t.Errorf("%s: %v", c.name, e)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: keys %v, want %v", c.name, got, c.want)
		}
	}
}

func TestFromImageIsBounded(t *testing.T) {
	ctr, img := map[string]string{}, map[string]string{}
	for i := range 500 {
		k := fmt.Sprintf("dcfw.input.rule.%d", i)
		ctr[k], img[k] = "allow", "allow"
	}
	errs := FromImage(ctr, img)
	if len(errs) != MaxErrors || !strings.Contains(errs[MaxErrors-1].Error(), "and more labels come from the image") {
		t.Errorf("%d errors, last %v", len(errs), errs[len(errs)-1])
	}
}
