package labels

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// validRules are rules that must parse, with the canonical rule and its
// String. Label is never set by ParseRule.
var validRules = []struct {
	name string
	text string
	want func(t testing.TB) Rule
	str  string
}{
	{
		name: "readme webserver input rule 1",
		text: "allow on eth0 proto tcp from 192.168.110.0/24 to any port 80",
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Iface: "eth0", Proto: TCP, Family: IPv4,
				From: Endpoint{Addrs: prefixes(t, "192.168.110.0/24")}, To: Endpoint{Ports: ports(port(80))}}
		},
		str: "allow on eth0 proto tcp from 192.168.110.0/24 to any port 80",
	},
	{
		name: "readme webserver input rule 2",
		text: "allow on eth0 proto tcp from 172.16.64.0/24 to any port 80",
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Iface: "eth0", Proto: TCP, Family: IPv4,
				From: Endpoint{Addrs: prefixes(t, "172.16.64.0/24")}, To: Endpoint{Ports: ports(port(80))}}
		},
		str: "allow on eth0 proto tcp from 172.16.64.0/24 to any port 80",
	},
	{
		name: "readme mariadb output rule with quoted comment",
		text: `allow proto tcp to 192.168.150.6 port 3306 comment "Allow access to MariaDB"`,
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Proto: TCP, Family: IPv4,
				To: Endpoint{Addrs: prefixes(t, "192.168.150.6"), Ports: ports(port(3306))}, Comment: "Allow access to MariaDB"}
		},
		str: `allow proto tcp to 192.168.150.6 port 3306 comment "Allow access to MariaDB"`,
	},
	{
		name: "readme proxy output rule",
		text: `allow proto tcp to 192.168.150.6 port 8080 comment "Allow communication to proxy"`,
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Proto: TCP, Family: IPv4,
				To: Endpoint{Addrs: prefixes(t, "192.168.150.6"), Ports: ports(port(8080))}, Comment: "Allow communication to proxy"}
		},
		str: `allow proto tcp to 192.168.150.6 port 8080 comment "Allow communication to proxy"`,
	},
	{name: "action only allow", text: "allow", want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: AnyProtocol} }, str: "allow"},
	{name: "action only deny", text: "deny", want: func(testing.TB) Rule { return Rule{Action: Deny, Proto: AnyProtocol} }, str: "deny"},
	{name: "action only reject", text: "reject", want: func(testing.TB) Rule { return Rule{Action: Reject, Proto: AnyProtocol} }, str: "reject"},
	{name: "action any case", text: "ReJeCt", want: func(testing.TB) Rule { return Rule{Action: Reject, Proto: AnyProtocol} }, str: "reject"},
	{name: "surrounding white space", text: "  \tdeny\n ", want: func(testing.TB) Rule { return Rule{Action: Deny, Proto: AnyProtocol} }, str: "deny"},
	{name: "log", text: "deny log", want: func(testing.TB) Rule { return Rule{Action: Deny, Log: true, Proto: AnyProtocol} }, str: "deny log"},
	{
		name: "keywords and values any case",
		text: "ALLOW LOG ON eth0 PROTO UDP FROM ANY TO ANY PORT 53 COMMENT DNS",
		want: func(testing.TB) Rule {
			return Rule{Action: Allow, Log: true, Iface: "eth0", Proto: UDP, To: Endpoint{Ports: ports(port(53))}, Comment: "DNS"}
		},
		str: "allow log on eth0 proto udp to any port 53 comment DNS",
	},
	{
		name: "any white space separates tokens",
		text: "allow\tproto\ntcp\r\nto\u00a0any \v port\f8",
		want: func(testing.TB) Rule {
			return Rule{Action: Allow, Proto: TCP, To: Endpoint{Ports: ports(port(8))}}
		},
		str: "allow proto tcp to any port 8",
	},
	{
		name: "one character tokens count",
		text: "deny to any port 8 comment x",
		want: func(testing.TB) Rule {
			return Rule{Action: Deny, Proto: AnyProtocol, To: Endpoint{Ports: ports(port(8))}, Comment: "x"}
		},
		str: "deny to any port 8 comment x",
	},
	{
		name: "clauses in any order",
		text: "allow comment web to 10.0.0.1 port 443 proto tcp log on eth0 from 10.0.0.2 port 1024-65535",
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Log: true, Iface: "eth0", Proto: TCP, Family: IPv4,
				From:    Endpoint{Addrs: prefixes(t, "10.0.0.2"), Ports: ports(span(1024, 65535))},
				To:      Endpoint{Addrs: prefixes(t, "10.0.0.1"), Ports: ports(port(443))},
				Comment: "web"}
		},
		str: "allow log on eth0 proto tcp from 10.0.0.2 port 1024-65535 to 10.0.0.1 port 443 comment web",
	},
	{
		name: "port without proto is tcp and udp",
		text: "allow to any port 80",
		want: func(testing.TB) Rule {
			return Rule{Action: Allow, Proto: AnyProtocol, To: Endpoint{Ports: ports(port(80))}}
		},
		str: "allow to any port 80",
	},
	{
		name: "source port",
		text: "allow from 10.0.0.1 port 80 to 10.0.0.2",
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Proto: AnyProtocol, Family: IPv4,
				From: Endpoint{Addrs: prefixes(t, "10.0.0.1"), Ports: ports(port(80))},
				To:   Endpoint{Addrs: prefixes(t, "10.0.0.2")}}
		},
		str: "allow from 10.0.0.1 port 80 to 10.0.0.2",
	},
	{
		name: "from any with port",
		text: "allow proto udp from ANY port 53",
		want: func(testing.TB) Rule {
			return Rule{Action: Allow, Proto: UDP, From: Endpoint{Ports: ports(port(53))}}
		},
		str: "allow proto udp from any port 53",
	},
	{
		name: "from any alone is no address",
		text: "allow from any to any",
		want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: AnyProtocol} },
		str:  "allow",
	},
	{
		name: "address list sorted and deduplicated",
		text: "allow to 10.0.0.6,10.0.0.5,10.0.0.5",
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Proto: AnyProtocol, Family: IPv4, To: Endpoint{Addrs: prefixes(t, "10.0.0.5", "10.0.0.6")}}
		},
		str: "allow to 10.0.0.5,10.0.0.6",
	},
	{
		name: "contained prefixes merged and host bits masked",
		text: "allow from 10.1.0.0/16,10.1.2.3/8,10.200.0.1",
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Proto: AnyProtocol, Family: IPv4, From: Endpoint{Addrs: prefixes(t, "10.0.0.0/8")}}
		},
		str: "allow from 10.0.0.0/8",
	},
	{
		name: "adjacent halves joined",
		text: "allow to 10.0.1.0/24,10.0.0.0/24,192.168.0.1",
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Proto: AnyProtocol, Family: IPv4, To: Endpoint{Addrs: prefixes(t, "10.0.0.0/23", "192.168.0.1")}}
		},
		str: "allow to 10.0.0.0/23,192.168.0.1",
	},
	{
		name: "host prefix printed as address",
		text: "allow to 10.0.0.1/32",
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Proto: AnyProtocol, Family: IPv4, To: Endpoint{Addrs: prefixes(t, "10.0.0.1")}}
		},
		str: "allow to 10.0.0.1",
	},
	{
		name: "ipv6 addresses and prefixes",
		text: "allow from 2001:DB8::/32 to 2001:0db8:0:0::1,fe80::/10",
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Proto: AnyProtocol, Family: IPv6,
				From: Endpoint{Addrs: prefixes(t, "2001:db8::/32")}, To: Endpoint{Addrs: prefixes(t, "2001:db8::1", "fe80::/10")}}
		},
		str: "allow from 2001:db8::/32 to 2001:db8::1,fe80::/10",
	},
	{
		name: "ipv4 any prefix is an ipv4 rule",
		text: "deny from 0.0.0.0/0",
		want: func(t testing.TB) Rule {
			return Rule{Action: Deny, Proto: AnyProtocol, Family: IPv4, From: Endpoint{Addrs: prefixes(t, "0.0.0.0/0")}}
		},
		str: "deny from 0.0.0.0/0",
	},
	{
		name: "ipv6 any prefix is an ipv6 rule",
		text: "deny to ::/0",
		want: func(t testing.TB) Rule {
			return Rule{Action: Deny, Proto: AnyProtocol, Family: IPv6, To: Endpoint{Addrs: prefixes(t, "::/0")}}
		},
		str: "deny to ::/0",
	},
	{
		name: "port list sorted and merged",
		text: "allow proto tcp to any port 443,80,8000-8100,81,82,8050-8200",
		want: func(testing.TB) Rule {
			return Rule{Action: Allow, Proto: TCP, To: Endpoint{Ports: ports(span(80, 82), port(443), span(8000, 8200))}}
		},
		str: "allow proto tcp to any port 80-82,443,8000-8200",
	},
	{
		name: "port extremes and leading zeros",
		text: "allow proto tcp to any port 0080,1,65535",
		want: func(testing.TB) Rule {
			return Rule{Action: Allow, Proto: TCP, To: Endpoint{Ports: ports(port(1), port(80), port(65535))}}
		},
		str: "allow proto tcp to any port 1,80,65535",
	},
	{
		name: "protocol number with a name is that protocol",
		text: "allow proto 6 to any port 22",
		want: func(testing.TB) Rule {
			return Rule{Action: Allow, Proto: TCP, To: Endpoint{Ports: ports(port(22))}}
		},
		str: "allow proto tcp to any port 22",
	},
	{name: "protocol number without a name", text: "allow proto 089", want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: 89} }, str: "allow proto 89"},
	{name: "protocol 0", text: "allow proto 0", want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: 0} }, str: "allow proto 0"},
	{name: "protocol 255", text: "allow proto 255", want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: 255} }, str: "allow proto 255"},
	{name: "protocol any", text: "allow proto ANY", want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: AnyProtocol} }, str: "allow"},
	{name: "protocol all as in iptables", text: "allow proto all", want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: AnyProtocol} }, str: "allow"},
	{name: "protocol gre", text: "allow proto GRE", want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: GRE} }, str: "allow proto gre"},
	{name: "protocol esp", text: "allow proto esp", want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: ESP} }, str: "allow proto esp"},
	{name: "protocol ah", text: "allow proto ah", want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: AH} }, str: "allow proto ah"},
	{
		name: "icmp is ipv4",
		text: "allow proto icmp",
		want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: ICMP, Family: IPv4} },
		str:  "allow proto icmp",
	},
	{
		name: "icmp with ipv4 address",
		text: "allow proto icmp from 10.0.0.0/8",
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Proto: ICMP, Family: IPv4, From: Endpoint{Addrs: prefixes(t, "10.0.0.0/8")}}
		},
		str: "allow proto icmp from 10.0.0.0/8",
	},
	{
		name: "icmpv6 is ipv6",
		text: "allow proto ICMPv6 to fe80::/10",
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Proto: ICMPv6, Family: IPv6, To: Endpoint{Addrs: prefixes(t, "fe80::/10")}}
		},
		str: "allow proto icmpv6 to fe80::/10",
	},
	{
		name: "igmp is ipv4",
		text: "allow proto 2",
		want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: IGMP, Family: IPv4} },
		str:  "allow proto igmp",
	},
	{
		name: "sctp udplite dccp have ports",
		text: "allow proto sctp to any port 5000",
		want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: SCTP, To: Endpoint{Ports: ports(port(5000))}} },
		str:  "allow proto sctp to any port 5000",
	},
	{
		name: "udplite ports",
		text: "allow proto udplite from any port 1-2",
		want: func(testing.TB) Rule {
			return Rule{Action: Allow, Proto: UDPLite, From: Endpoint{Ports: ports(span(1, 2))}}
		},
		str: "allow proto udplite from any port 1-2",
	},
	{
		name: "dccp ports by number",
		text: "allow proto 33 to any port 9",
		want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: DCCP, To: Endpoint{Ports: ports(port(9))}} },
		str:  "allow proto dccp to any port 9",
	},
	{
		name: "interface wildcard",
		text: "deny on eth*",
		want: func(testing.TB) Rule { return Rule{Action: Deny, Proto: AnyProtocol, Iface: "eth*"} },
		str:  "deny on eth*",
	},
	{
		name: "interface of 15 characters",
		text: "deny on br-0123456789ab",
		want: func(testing.TB) Rule { return Rule{Action: Deny, Proto: AnyProtocol, Iface: "br-0123456789ab"} },
		str:  "deny on br-0123456789ab",
	},
	{
		name: "interface names keep their case",
		text: "deny on WLAN0",
		want: func(testing.TB) Rule { return Rule{Action: Deny, Proto: AnyProtocol, Iface: "WLAN0"} },
		str:  "deny on WLAN0",
	},
	{
		name: "comment with escapes",
		text: `deny comment "say \"hi\" \\o/"`,
		want: func(testing.TB) Rule { return Rule{Action: Deny, Proto: AnyProtocol, Comment: `say "hi" \o/`} },
		str:  `deny comment "say \"hi\" \\o/"`,
	},
	{
		name: "quoted one-word comment printed bare",
		text: `deny comment "web"`,
		want: func(testing.TB) Rule { return Rule{Action: Deny, Proto: AnyProtocol, Comment: "web"} },
		str:  `deny comment web`,
	},
	{
		name: "quoted keyword comment stays quoted",
		text: `deny comment "LOG"`,
		want: func(testing.TB) Rule { return Rule{Action: Deny, Proto: AnyProtocol, Comment: "LOG"} },
		str:  `deny comment "LOG"`,
	},
	{
		name: "bare comment with backslash is re-quoted",
		text: `deny comment a\b`,
		want: func(testing.TB) Rule { return Rule{Action: Deny, Proto: AnyProtocol, Comment: `a\b`} },
		str:  `deny comment "a\\b"`,
	},
	{
		name: "comment spaces kept",
		text: `deny comment "  two  spaces "`,
		want: func(testing.TB) Rule { return Rule{Action: Deny, Proto: AnyProtocol, Comment: "  two  spaces "} },
		str:  `deny comment "  two  spaces "`,
	},
	{
		name: "unicode comment",
		text: `allow comment "Zugriff für Büro ✓"`,
		want: func(testing.TB) Rule {
			return Rule{Action: Allow, Proto: AnyProtocol, Comment: "Zugriff für Büro ✓"}
		},
		str: `allow comment "Zugriff für Büro ✓"`,
	},
	{
		name: "comment of 128 bytes",
		text: "allow comment " + strings.Repeat("c", 128),
		want: func(testing.TB) Rule {
			return Rule{Action: Allow, Proto: AnyProtocol, Comment: strings.Repeat("c", 128)}
		},
		str: "allow comment " + strings.Repeat("c", 128),
	},
	{
		name: "empty comment is no comment",
		text: `allow comment ""`,
		want: func(testing.TB) Rule { return Rule{Action: Allow, Proto: AnyProtocol} },
		str:  "allow",
	},
	{
		name: "prefix length with leading zero",
		text: "allow from 10.0.0.0/08",
		want: func(t testing.TB) Rule {
			return Rule{Action: Allow, Proto: AnyProtocol, Family: IPv4, From: Endpoint{Addrs: prefixes(t, "10.0.0.0/8")}}
		},
		str: "allow from 10.0.0.0/8",
	},
}

func TestParseRuleValid(t *testing.T) {
	for _, tc := range validRules {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRule(tc.text)
			if err != nil {
				t.Fatalf("ParseRule(%q): %v", tc.text, err)
			}
			want := tc.want(t)
			if !got.Equal(want) || !reflect.DeepEqual(normalize(got), normalize(want)) {
				t.Errorf("ParseRule(%q)\n got %#v\nwant %#v", tc.text, got, want)
			}
			if s := got.String(); s != tc.str {
				t.Errorf("String() = %q, want %q", s, tc.str)
			}
			checkCanonical(t, got)
			checkRoundTrip(t, got)
		})
	}
}

// normalize makes nil and empty lists alike for reflect.DeepEqual, which
// checks the fields Equal might forget.
func normalize(r Rule) Rule {
	for _, ep := range []*Endpoint{&r.From, &r.To} {
		if len(ep.Addrs) == 0 {
			ep.Addrs = nil
		}
		if len(ep.Ports) == 0 {
			ep.Ports = nil
		}
	}
	return r
}

// TestCanonicalSpellings: different spellings of one rule parse to equal
// rules with one String.
func TestCanonicalSpellings(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"allow proto tcp to any port 80", "ALLOW to ANY port 80 PROTO 6"},
		{"allow to 10.0.0.5,10.0.0.6", "allow to 10.0.0.6,10.0.0.5/32,10.0.0.5"},
		{"allow from 10.0.0.0/8", "allow from 10.1.2.3/8,10.0.0.0/16"},
		{"allow from 10.0.0.0/24", "allow from 10.0.0.128/25,10.0.0.0/25"},
		{"allow from 10.0.0.0/30", "allow from 10.0.0.0,10.0.0.1,10.0.0.2,10.0.0.3"},
		{"allow proto udp to any port 80-82", "allow proto 17 to any port 82,80,81"},
		{"allow proto udp to any port 1-100", "allow proto udp to any port 50-100,1-60,10"},
		{"deny from 2001:db8::/32", "deny from 2001:0DB8:0000::1/32"},
		{"deny", "deny from any to any proto any"},
		{`deny comment web`, `deny comment "web"`},
		{`deny log on eth0 comment "a b"`, "deny\tcomment \"a b\"\non eth0 log"},
	} {
		ra, err := ParseRule(tc.a)
		if err != nil {
			t.Fatalf("ParseRule(%q): %v", tc.a, err)
		}
		rb, err := ParseRule(tc.b)
		if err != nil {
			t.Fatalf("ParseRule(%q): %v", tc.b, err)
		}
		if !ra.Equal(rb) || ra.String() != rb.String() {
			t.Errorf("%q and %q differ:\n%#v\n%#v", tc.a, tc.b, ra, rb)
		}
	}
}

// wantErr describes one expected *Error of a rule.
type wantErr struct {
	is    error
	token string // the offending token as written
	col   int    // 1-based column
	msg   string // a substring of Msg
	sugg  string // Suggestion, exactly
}

// invalidRules: every kind of bad rule, each with the error it must give.
var invalidRules = []struct {
	name string
	text string
	want []wantErr
}{
	{"empty", "", []wantErr{{ErrSyntax, "", 1, "empty rule", ""}}},
	{"blank", " \t ", []wantErr{{ErrSyntax, "", 1, "empty rule", ""}}},
	{"unknown action", "alow to any", []wantErr{{ErrSyntax, "alow", 1, `unknown action "alow"`, "allow"}}},
	{"iptables action", "DROP", []wantErr{{ErrSyntax, "DROP", 1, `unknown action`, "deny"}}},
	{"missing action", "from 10.0.0.1", []wantErr{{ErrSyntax, "from", 1, "missing action", ""}}},
	{"second action", "allow deny", []wantErr{{ErrSyntax, "deny", 7, `unexpected action "deny"`, ""}}},
	{"unknown keyword", "allow proto tcp frm 10.0.0.1", []wantErr{{ErrSyntax, "frm", 17, `unknown keyword "frm"`, "from"}}},
	{"unknown keyword transposed", "allow form 10.0.0.1", []wantErr{{ErrSyntax, "form", 7, `unknown keyword`, "from"}}},
	{"unknown keyword alias", "allow protocol tcp", []wantErr{{ErrSyntax, "protocol", 7, `unknown keyword`, "proto"}}},
	{"unknown keyword far off", "allow whatever", []wantErr{{ErrSyntax, "whatever", 7, `unknown keyword`, ""}}},
	{"unknown keyword then port is not blamed", "allow frm 10.0.0.1 port 80", []wantErr{{ErrSyntax, "frm", 7, `unknown keyword`, "from"}}},
	{"unexpected quoted string", `allow "x"`, []wantErr{{ErrSyntax, `"x"`, 7, "unexpected quoted string", ""}}},
	{"unknown protocol", "allow proto tpc", []wantErr{{ErrValue, "tpc", 13, `unknown protocol "tpc"`, "tcp"}}},
	{"unknown protocol alias", "allow proto ipv6-icmp", []wantErr{{ErrValue, "ipv6-icmp", 13, `unknown protocol`, "icmpv6"}}},
	{"unnamed protocol name", "allow proto ospf", []wantErr{{ErrValue, "ospf", 13, `unknown protocol "ospf"`, ""}}},
	{"protocol number too large", "allow proto 256", []wantErr{{ErrValue, "256", 13, "protocol number 256 out of range", ""}}},
	{"protocol number signed", "allow proto -1", []wantErr{{ErrValue, "-1", 13, `unknown protocol "-1"`, ""}}},
	{"log twice", "allow log LOG", []wantErr{{ErrSyntax, "LOG", 11, `"log" given twice`, ""}}},
	{"proto twice", "allow proto tcp proto udp", []wantErr{{ErrSyntax, "proto", 17, `"proto" given twice`, ""}}},
	{"from twice", "allow from 10.0.0.1 from 10.0.0.2", []wantErr{{ErrSyntax, "from", 21, `"from" given twice`, ""}}},
	{"to twice", "allow to any to 10.0.0.1", []wantErr{{ErrSyntax, "to", 14, `"to" given twice`, ""}}},
	{"on twice", "allow on eth0 on eth1", []wantErr{{ErrSyntax, "on", 15, `"on" given twice`, ""}}},
	{"comment twice", "allow comment a comment b", []wantErr{{ErrSyntax, "comment", 17, `"comment" given twice`, ""}}},
	{"port twice after one address list", "allow to any port 80 port 81", []wantErr{{ErrSyntax, "port", 22, "second port list", ""}}},
	{"port without address", "allow port 80", []wantErr{{ErrSyntax, "port", 7, "port not directly after from or to", ""}}},
	{"port after proto", "allow proto tcp port 80", []wantErr{{ErrSyntax, "port", 17, "port not directly after", ""}}},
	{"port not directly after address", "allow from any proto tcp port 80", []wantErr{{ErrSyntax, "port", 26, "port not directly after", ""}}},
	{"port 0", "allow to any port 0", []wantErr{{ErrValue, "0", 19, "port 0 out of range", ""}}},
	{"port too large", "allow to any port 65536", []wantErr{{ErrValue, "65536", 19, "port 65536 out of range", ""}}},
	{"port huge", "allow to any port 99999999999999999999999", []wantErr{{ErrValue, "99999999999999999999999", 19, "out of range", ""}}},
	{"port range reversed", "allow to any port 90-80", []wantErr{{ErrValue, "90-80", 19, `reversed port range "90-80"`, ""}}},
	{"port range open end", "allow to any port 80-", []wantErr{{ErrValue, "", 22, "missing port number", ""}}},
	{"port range open start", "allow to any port -80", []wantErr{{ErrValue, "", 19, "missing port number", ""}}},
	{"port name", "allow to any port http", []wantErr{{ErrValue, "http", 19, `invalid port "http"`, ""}}},
	{"port signed", "allow to any port +80", []wantErr{{ErrValue, "+80", 19, `invalid port "+80"`, ""}}},
	{"port list empty element", "allow to any port 80,,81", []wantErr{{ErrValue, "", 22, "empty element in port list", ""}}},
	{"port list trailing comma", "allow to any port 80,", []wantErr{{ErrValue, "", 22, "empty element in port list", ""}}},
	{"several bad ports", "allow to any port 0,70000,90-80", []wantErr{
		{ErrValue, "0", 19, "port 0", ""}, {ErrValue, "70000", 21, "port 70000", ""}, {ErrValue, "90-80", 27, "reversed", ""}}},
	{"port with icmp", "allow proto icmp to any port 80", []wantErr{{ErrConflict, "port", 25, "port with protocol icmp, which has no ports", ""}}},
	{"port with icmpv6", "allow proto icmpv6 from any port 80", []wantErr{{ErrConflict, "port", 29, "protocol icmpv6", ""}}},
	{"port with igmp", "allow proto igmp to any port 80", []wantErr{{ErrConflict, "port", 25, "protocol igmp", ""}}},
	{"port with esp", "allow proto esp to any port 80", []wantErr{{ErrConflict, "port", 24, "protocol esp", ""}}},
	{"port with ah", "allow proto ah to any port 80", []wantErr{{ErrConflict, "port", 23, "protocol ah", ""}}},
	{"port with gre", "allow proto gre to any port 80", []wantErr{{ErrConflict, "port", 24, "protocol gre", ""}}},
	{"port with numeric protocol", "allow proto 89 to any port 80", []wantErr{{ErrConflict, "port", 23, "protocol 89", ""}}},
	{"ports on both sides with gre", "allow proto gre from any port 1 to any port 2", []wantErr{
		{ErrConflict, "port", 26, "protocol gre", ""}, {ErrConflict, "port", 40, "protocol gre", ""}}},
	{"bad ipv4", "allow from 10.0.0.256", []wantErr{{ErrValue, "10.0.0.256", 12, `invalid IPv4 address "10.0.0.256"`, ""}}},
	{"short ipv4", "allow from 10.0.0", []wantErr{{ErrValue, "10.0.0", 12, `invalid IPv4 address`, ""}}},
	{"ipv4 with leading zero", "allow from 010.0.0.1", []wantErr{{ErrValue, "010.0.0.1", 12, `invalid IPv4 address`, ""}}},
	{"ipv4 prefix too long", "allow from 10.0.0.1/33", []wantErr{{ErrValue, "/33", 20, `invalid prefix length "/33"`, ""}}},
	{"ipv4 prefix empty", "allow from 10.0.0.1/", []wantErr{{ErrValue, "/", 20, `invalid prefix length "/"`, ""}}},
	{"ipv4 prefix signed", "allow from 10.0.0.0/-8", []wantErr{{ErrValue, "/-8", 20, `invalid prefix length`, ""}}},
	{"ipv4 prefix twice", "allow from 10.0.0.0/8/8", []wantErr{{ErrValue, "/8/8", 20, `invalid prefix length`, ""}}},
	{"bad ipv6", "allow from 2001:db8:::1", []wantErr{{ErrValue, "2001:db8:::1", 12, `invalid IPv6 address`, ""}}},
	{"ipv6 prefix too long", "allow to ::1/129", []wantErr{{ErrValue, "/129", 13, `invalid prefix length "/129"`, ""}}},
	{"ipv6 zone", "allow from fe80::1%eth0", []wantErr{{ErrValue, "%eth0", 19, `zone in address`, ""}}},
	{"ipv4-mapped ipv6", "allow from ::ffff:10.0.0.1", []wantErr{{ErrValue, "::ffff:10.0.0.1", 12, `IPv4-mapped IPv6 address`, ""}}},
	{"any with other addresses", "allow from 10.0.0.1,any", []wantErr{{ErrValue, "any", 21, "any combined with other addresses", ""}}},
	{"errors in a list sorted by position", "allow from any,1.2.3.999", []wantErr{
		{ErrValue, "any", 12, "any combined with other addresses", ""},
		{ErrValue, "1.2.3.999", 16, "invalid IPv4 address", ""},
	}},
	{"address list empty element", "allow to 10.0.0.1,,10.0.0.2", []wantErr{{ErrValue, "", 19, "empty element in address list", ""}}},
	{"address list with space after comma", "allow to 10.0.0.1, 10.0.0.2 port 80", []wantErr{
		{ErrSyntax, "10.0.0.1, 10.0.0.2", 10, `spaces inside the list`, ""}}},
	{"address list with space before comma", "allow to 10.0.0.1 ,10.0.0.2", []wantErr{{ErrSyntax, "10.0.0.1 ,10.0.0.2", 10, `spaces inside the list`, ""}}},
	{"port list with spaces", "allow to any port 80 , 443", []wantErr{{ErrSyntax, "80 , 443", 19, `spaces inside the list`, ""}}},
	{"address list without comma", "allow to 10.0.0.1 10.0.0.2", []wantErr{{ErrSyntax, "10.0.0.2", 19, `unexpected "10.0.0.2" after a list`, ""}}},
	{"mixed families between from and to", "allow from 10.0.0.1 to ::1", []wantErr{
		{ErrConflict, "::1", 24, `IPv6 address "::1" mixed with IPv4 address "10.0.0.1"`, ""}}},
	{"mixed families in one list", "allow from ::1,10.0.0.1", []wantErr{{ErrConflict, "10.0.0.1", 16, `IPv4 address "10.0.0.1" mixed with IPv6`, ""}}},
	{"mixed any prefixes", "allow from 0.0.0.0/0,::/0", []wantErr{{ErrConflict, "::/0", 22, `mixed with IPv4`, ""}}},
	{"icmp with ipv6 address", "allow proto icmp to ::1", []wantErr{{ErrConflict, "proto", 7, "protocol icmp is IPv4 only", "icmpv6"}}},
	{"icmpv6 with ipv4 address", "allow proto icmpv6 from 10.0.0.1", []wantErr{{ErrConflict, "proto", 7, "protocol icmpv6 is IPv6 only", "icmp"}}},
	{"igmp with ipv6 address", "allow proto igmp from ::1", []wantErr{{ErrConflict, "proto", 7, "protocol igmp is IPv4 only", ""}}},
	{"interface too long", "allow on abcdefghijklmnop", []wantErr{{ErrValue, "abcdefghijklmnop", 10, "too long", ""}}},
	{"interface wildcard too long", "allow on abcdefghijklmnop*", []wantErr{{ErrValue, "abcdefghijklmnop*", 10, "too long", ""}}},
	{"interface quoted empty", `allow on ""`, []wantErr{{ErrSyntax, `""`, 10, `quoted value after "on"`, ""}}},
	{"interface missing", "allow on", []wantErr{{ErrSyntax, "on", 7, `missing interface name after "on"`, ""}}},
	{"interface keyword", "allow on from 10.0.0.1", []wantErr{{ErrSyntax, "on", 7, `missing interface name`, ""}}},
	{"interface slash", "allow on eth/0", []wantErr{{ErrValue, "eth/0", 10, `contains '/'`, ""}}},
	{"interface colon", "allow on eth0:1", []wantErr{{ErrValue, "eth0:1", 10, `contains ':'`, ""}}},
	{"interface star inside", "allow on e*h0", []wantErr{{ErrValue, "e*h0", 10, `* inside interface name`, ""}}},
	{"interface star alone", "allow on *", []wantErr{{ErrValue, "*", 10, `interface "*" is not a name`, ""}}},
	{"interface any", "allow on ANY", []wantErr{{ErrValue, "ANY", 10, `interface "ANY" is not a name`, ""}}},
	{"interface dot", "allow on ..", []wantErr{{ErrValue, "..", 10, `not allowed by Linux`, ""}}},
	{"interface non-ascii", "allow on éth0", []wantErr{{ErrValue, "éth0", 10, `printable ASCII`, ""}}},
	{"interface control character", "allow on eth\x010", []wantErr{{ErrValue, "eth\x010", 10, `printable ASCII`, ""}}},
	{"comment too long", "allow comment " + strings.Repeat("c", 129), []wantErr{{ErrValue, strings.Repeat("c", 129), 15, "129 bytes", ""}}},
	{"comment too long in bytes", "allow comment " + strings.Repeat("ü", 65), []wantErr{{ErrValue, strings.Repeat("ü", 65), 15, "130 bytes", ""}}},
	{"comment with tab", "allow comment \"a\tb\"", []wantErr{{ErrValue, "\"a\tb\"", 15, "non-printable character U+0009", ""}}},
	{"comment with newline", "allow comment \"a\nb\"", []wantErr{{ErrValue, "\"a\nb\"", 15, "non-printable character U+000A", ""}}},
	{"comment with control character", "allow comment a\x1bb", []wantErr{{ErrValue, "a\x1bb", 15, "non-printable character U+001B", ""}}},
	{"comment with bidi override", "allow comment a\u202eb", []wantErr{{ErrValue, "a\u202eb", 15, "non-printable character U+202E", ""}}},
	{"comment invalid utf-8", "allow comment a\xffb", []wantErr{{ErrValue, "a\xffb", 15, "not valid UTF-8", ""}}},
	{"comment missing", "allow comment", []wantErr{{ErrSyntax, "comment", 7, `missing comment after "comment"`, ""}}},
	{"comment bare keyword", "allow comment log", []wantErr{{ErrSyntax, "comment", 7, `missing comment`, ""}}},
	{"unterminated quote", `deny comment "abc`, []wantErr{{ErrSyntax, `"abc`, 14, "unterminated quoted string", ""}}},
	{"unterminated quote after escape", `deny comment "abc\`, []wantErr{{ErrSyntax, `"abc\`, 14, "unterminated quoted string", ""}}},
	{"unterminated quote escaped end", `deny comment "abc\"`, []wantErr{{ErrSyntax, `"abc\"`, 14, "unterminated quoted string", ""}}},
	{"quote inside word", `deny comment ab"c`, []wantErr{{ErrSyntax, `"`, 16, "quote inside a word", ""}}},
	{"text after closing quote", `deny comment "ab"c to any`, []wantErr{{ErrSyntax, `c`, 18, "text directly after a closing quote", ""}}},
	{"unknown escape", `deny comment "a\nb"`, []wantErr{{ErrSyntax, `\n`, 16, `unknown escape "\\n"`, ""}}},
	{"missing address", "allow from", []wantErr{{ErrSyntax, "from", 7, `missing address list after "from"`, ""}}},
	{"missing address before port", "allow from port 80", []wantErr{{ErrSyntax, "from", 7, `missing address list after "from"`, ""}}},
	{"missing protocol", "allow proto", []wantErr{{ErrSyntax, "proto", 7, `missing protocol after "proto"`, ""}}},
	{"missing ports", "allow to any port", []wantErr{{ErrSyntax, "port", 14, `missing port list after "port"`, ""}}},
	{"columns count characters", "allow comment ÄÖÜ to 1.2.3.999", []wantErr{{ErrValue, "1.2.3.999", 22, "invalid IPv4 address", ""}}},
	{"every clause error in one rule, the first three kept", "alow log log on eth0 on eth1 proto tcpp", []wantErr{
		{ErrSyntax, "alow", 1, "unknown action", "allow"},
		{ErrSyntax, "log", 10, `"log" given twice`, ""},
		{ErrSyntax, "on", 22, `"on" given twice`, ""},
		{ErrTooManyErrors, "tcpp", 36, "… and 1 more error in this label, the next", ""},
	}},
	{"the leftmost errors are kept, not the first found", "allow to any,10.0.0.1,x_ port 0,0,0 on eth0 on eth1", []wantErr{
		{ErrValue, "any", 10, "any combined with other addresses", ""},
		{ErrValue, "_", 24, `character "_" not allowed in name "x_"`, ""},
		{ErrValue, "0", 31, "port 0 out of range", ""},
		{ErrTooManyErrors, "0", 33, "… and 3 more errors in this label, the next", ""},
	}},
}

func TestParseRuleInvalid(t *testing.T) {
	for _, tc := range invalidRules {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRule(tc.text)
			if err == nil {
				t.Fatalf("ParseRule(%q) = %q, want an error", tc.text, r)
			}
			if !reflect.DeepEqual(r, Rule{}) {
				t.Errorf("ParseRule(%q) returned a rule with its error: %#v", tc.text, r)
			}
			checkErrorInvariants(t, err)
			got := allErrors(err)
			if len(got) != len(tc.want) {
				t.Fatalf("ParseRule(%q): %d errors, want %d:\n%v", tc.text, len(got), len(tc.want), err)
			}
			for i, w := range tc.want {
				e := got[i]
				if !errors.Is(e, w.is) || e.Token != w.token || e.Column() != w.col ||
					!strings.Contains(e.Msg, w.msg) || e.Suggestion != w.sugg || e.Value != tc.text || e.Key != "" {
					t.Errorf("error %d: got %v (token %q, column %d, suggestion %q, sentinel %v)\nwant token %q, column %d, msg containing %q, suggestion %q, sentinel %v",
						i, e, e.Token, e.Column(), e.Suggestion, e.Err, w.token, w.col, w.msg, w.sugg, w.is)
				}
			}
			if !errors.Is(err, tc.want[0].is) {
				t.Errorf("errors.Is(err, %v) is false for the Errors", tc.want[0].is)
			}
		})
	}
}

func TestRuleProtocols(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []Protocol
	}{
		{"allow", nil},
		{"allow to any port 80", []Protocol{TCP, UDP}},
		{"allow from any port 80", []Protocol{TCP, UDP}},
		{"allow proto tcp to any port 80", []Protocol{TCP}},
		{"allow proto icmp", []Protocol{ICMP}},
		{"allow proto 0", []Protocol{0}},
	} {
		r, err := ParseRule(tc.text)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Protocols(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q.Protocols() = %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestRuleEqualIgnoresLabelOnly(t *testing.T) {
	r, err := ParseRule(`allow log on eth0 proto tcp from 10.0.0.1 port 1 to 10.0.0.2 port 2 comment c`)
	if err != nil {
		t.Fatal(err)
	}
	other := r
	other.Label = "dcfw.input.rule.7"
	if !r.Equal(other) {
		t.Errorf("Equal compares Label")
	}
	// Every other field must count.
	mutations := map[string]func(*Rule){
		"Action":     func(r *Rule) { r.Action = Deny },
		"Log":        func(r *Rule) { r.Log = false },
		"Iface":      func(r *Rule) { r.Iface = "eth1" },
		"Proto":      func(r *Rule) { r.Proto = UDP },
		"Family":     func(r *Rule) { r.Family = BothFamilies },
		"From.Addrs": func(r *Rule) { r.From.Addrs = nil },
		"From.Ports": func(r *Rule) { r.From.Ports = ports(port(3)) },
		"To.Addrs":   func(r *Rule) { r.To.Addrs = prefixes(t, "10.0.0.3") },
		"To.Ports":   func(r *Rule) { r.To.Ports = nil },
		"Comment":    func(r *Rule) { r.Comment = "d" },
	}
	if n := reflect.TypeOf(Rule{}).NumField() - 1 + 2; len(mutations) != n { // -Label, Endpoint counts twice
		t.Fatalf("%d mutations for %d compared fields: a field was added to Rule without updating Equal", len(mutations), n)
	}
	for name, mutate := range mutations {
		m := r
		m.From.Addrs = append(m.From.Addrs[:0:0], r.From.Addrs...)
		mutate(&m)
		if r.Equal(m) {
			t.Errorf("Equal ignores %s", name)
		}
	}
}
