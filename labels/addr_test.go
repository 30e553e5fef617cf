package labels

import (
	"net/netip"
	"slices"
	"testing"
)

func TestCanonicalPrefixes(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{"10.0.0.1/32"}, []string{"10.0.0.1/32"}},
		{[]string{"10.0.0.2/32", "10.0.0.1/32", "10.0.0.2/32"}, []string{"10.0.0.1/32", "10.0.0.2/32"}},
		{[]string{"10.1.0.0/16", "10.0.0.0/8"}, []string{"10.0.0.0/8"}},
		{[]string{"10.0.0.0/8", "10.0.0.0/16", "10.255.255.255/32"}, []string{"10.0.0.0/8"}},
		{[]string{"10.0.0.0/25", "10.0.0.128/25"}, []string{"10.0.0.0/24"}},
		// Joining cascades: four quarters make one network.
		{[]string{"10.0.0.192/26", "10.0.0.0/26", "10.0.0.128/26", "10.0.0.64/26"}, []string{"10.0.0.0/24"}},
		// Neighbours that are not two halves of one network stay apart.
		{[]string{"10.0.1.0/24", "10.0.2.0/24"}, []string{"10.0.1.0/24", "10.0.2.0/24"}},
		{[]string{"0.0.0.0/1", "128.0.0.0/1"}, []string{"0.0.0.0/0"}},
		{[]string{"0.0.0.0/0", "10.0.0.0/8"}, []string{"0.0.0.0/0"}},
		{[]string{"2001:db8::/33", "2001:db8:8000::/33", "2001:db8::1/128"}, []string{"2001:db8::/32"}},
		{[]string{"::1/128", "10.0.0.1/32"}, []string{"10.0.0.1/32", "::1/128"}},
	} {
		var in []netip.Prefix
		for _, s := range tc.in {
			in = append(in, netip.MustParsePrefix(s))
		}
		var got []string
		for _, p := range canonicalPrefixes(in) {
			got = append(got, p.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("canonicalPrefixes(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
