package labels

import "testing"

func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct {
		got  string
		want string
	}{
		{Allow.String(), "allow"}, {Deny.String(), "deny"}, {Reject.String(), "reject"}, {Action(9).String(), "Action(9)"},
		{BothFamilies.String(), "both"}, {IPv4.String(), "IPv4"}, {IPv6.String(), "IPv6"}, {Family(7).String(), "Family(7)"},
		{Unmanaged.String(), "unmanaged"}, {Disabled.String(), "disabled"}, {Enabled.String(), "enabled"}, {State(5).String(), "State(5)"},
		{AnyProtocol.String(), "any"}, {TCP.String(), "tcp"}, {ICMPv6.String(), "icmpv6"}, {UDPLite.String(), "udplite"},
		{Protocol(0).String(), "0"}, {Protocol(253).String(), "253"},
		{port(80).String(), "80"}, {span(8000, 8100).String(), "8000-8100"},
		{Endpoint{}.String(), "any"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestProtocolProperties(t *testing.T) {
	withPorts := map[Protocol]bool{AnyProtocol: true, TCP: true, UDP: true, SCTP: true, UDPLite: true, DCCP: true}
	for p := AnyProtocol; p <= 255; p++ {
		if got := p.HasPorts(); got != withPorts[p] {
			t.Errorf("%v.HasPorts() = %v", p, got)
		}
		want := BothFamilies
		switch p {
		case ICMP, IGMP:
			want = IPv4
		case ICMPv6:
			want = IPv6
		}
		if got := p.Family(); got != want {
			t.Errorf("%v.Family() = %v, want %v", p, got, want)
		}
		// Every protocol prints as something that parses back to it.
		if p != AnyProtocol {
			r := Rule{Action: Allow, Proto: p, Family: p.Family()}
			checkRoundTrip(t, r)
		}
	}
}

func TestCommentQuoting(t *testing.T) {
	for _, tc := range []struct{ comment, want string }{
		{"web", "web"},
		{"two words", `"two words"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"from", `"from"`},
		{"Comment", `"Comment"`},
		{"allow", "allow"}, // not a clause keyword: after comment it is text
		{"ünïcödé", "ünïcödé"},
	} {
		if got := quoteComment(tc.comment); got != tc.want {
			t.Errorf("quoteComment(%q) = %s, want %s", tc.comment, got, tc.want)
		}
		checkRoundTrip(t, Rule{Action: Deny, Proto: AnyProtocol, Comment: tc.comment})
	}
}
