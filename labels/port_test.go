package labels

import (
	"slices"
	"testing"
)

func TestCanonicalPorts(t *testing.T) {
	for _, tc := range []struct {
		in, want []PortRange
	}{
		{nil, nil},
		{ports(port(80), port(81), port(82)), ports(span(80, 82))},
		{ports(port(443), port(80)), ports(port(80), port(443))},
		{ports(span(10, 20), span(15, 30), port(31), port(33)), ports(span(10, 31), port(33))},
		{ports(span(1, 65535), port(80)), ports(span(1, 65535))},
		{ports(port(65535), span(65534, 65535)), ports(span(65534, 65535))},
		{ports(span(100, 200), span(120, 130)), ports(span(100, 200))},
	} {
		if got := canonicalPorts(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("canonicalPorts(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
