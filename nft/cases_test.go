package nft

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/dcfw/dcfw/labels"
)

// Policies shared by the golden, round-trip and kernel tests. They are
// built directly as labels.Policy values (the canonical form labels.Parse
// produces), each with the label text it stands for, so these tests do not
// depend on the parser.

const testID = "0123456789abcdef0123456789abcdef"

type policyCase struct {
	name string // golden file: testdata/<name>.golden
	// labels documents the labels the policy stands for.
	labels string
	policy labels.Policy
	// lockdown: the case is Lockdown(testID), not a compiled policy.
	lockdown bool
	// toGroup: the table's log rules go to NFLOG group testLogGroup
	// (Table.LogToGroup).
	toGroup bool
	// noLogs: the table's log rules are removed (Table.WithoutLogs).
	noLogs bool
	// addrs are the addresses of the policy's names.
	addrs NameAddrs
}

// testLogGroup is the NFLOG group of the toGroup cases.
const testLogGroup = 7

func (c policyCase) table() (*Table, error) {
	var tbl *Table
	if c.lockdown {
		tbl = Lockdown(testID)
	} else {
		var err error
		if tbl, err = CompileNames(c.policy, testID, c.addrs); err != nil {
			return nil, err
		}
	}
	if c.toGroup {
		tbl.LogToGroup(testLogGroup)
	}
	if c.noLogs {
		tbl.WithoutLogs()
	}
	return tbl, nil
}

// withGroup returns c renamed, its log rules sent to testLogGroup.
func withGroup(c policyCase) policyCase {
	c.name += "-group"
	c.toGroup = true
	return c
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func enabled(in, out labels.Action, inRules, outRules []labels.Rule) labels.Policy {
	return labels.Policy{
		State:  labels.Enabled,
		Input:  labels.Chain{Policy: in, Rules: numbered("input", inRules)},
		Output: labels.Chain{Policy: out, Rules: numbered("output", outRules)},
	}
}

// numbered gives rules the label keys dcfw.<dir>.rule.1, .2, ...
func numbered(dir string, rs []labels.Rule) []labels.Rule {
	for i := range rs {
		if rs[i].Label == "" {
			rs[i].Label = "dcfw." + dir + ".rule." + strconv.Itoa(i+1)
		}
	}
	return rs
}

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		if !strings.Contains(s, "/") {
			a := netip.MustParseAddr(s)
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// ports parses "80", "8000-8080".
func ports(ss ...string) []labels.PortRange {
	var out []labels.PortRange
	for _, s := range ss {
		lo, hi, found := strings.Cut(s, "-")
		if !found {
			hi = lo
		}
		l, _ := strconv.Atoi(lo)
		h, _ := strconv.Atoi(hi)
		out = append(out, labels.PortRange{Lo: uint16(l), Hi: uint16(h)})
	}
	return out
}

var policyCases = []policyCase{
	{
		name:   "default",
		labels: `dcfw.enable=true`,
		policy: enabled(labels.Deny, labels.Allow, nil, nil),
	},
	{
		name: "readme-webserver",
		labels: `dcfw.input.policy=deny
dcfw.input.rule.1=allow on eth0 proto tcp from 192.168.110.0/24 to any port 80
dcfw.input.rule.2=allow on eth0 proto tcp from 172.16.64.0/24 to any port 80
dcfw.output.policy=deny
dcfw.output.rule.1=allow proto tcp to 192.168.150.6 port 3306 comment "Allow access to MariaDB"`,
		policy: enabled(labels.Deny, labels.Deny,
			[]labels.Rule{
				{Action: labels.Allow, Iface: "eth0", Proto: labels.TCP, Family: labels.IPv4,
					From: labels.Endpoint{Addrs: pfx("192.168.110.0/24")}, To: labels.Endpoint{Ports: ports("80")}},
				{Action: labels.Allow, Iface: "eth0", Proto: labels.TCP, Family: labels.IPv4,
					From: labels.Endpoint{Addrs: pfx("172.16.64.0/24")}, To: labels.Endpoint{Ports: ports("80")}},
			},
			[]labels.Rule{
				{Action: labels.Allow, Proto: labels.TCP, Family: labels.IPv4,
					To: labels.Endpoint{Addrs: pfx("192.168.150.6"), Ports: ports("3306")}, Comment: "Allow access to MariaDB"},
			}),
	},
	{
		name: "reject-policies",
		labels: `dcfw.input.policy=reject
dcfw.input.rule.1=allow from 10.0.0.0/8
dcfw.output.policy=reject
dcfw.output.rule.1=allow proto udp to 10.0.0.53 port 53`,
		policy: enabled(labels.Reject, labels.Reject,
			[]labels.Rule{{Action: labels.Allow, Proto: labels.AnyProtocol, Family: labels.IPv4,
				From: labels.Endpoint{Addrs: pfx("10.0.0.0/8")}}},
			[]labels.Rule{{Action: labels.Allow, Proto: labels.UDP, Family: labels.IPv4,
				To: labels.Endpoint{Addrs: pfx("10.0.0.53"), Ports: ports("53")}}}),
	},
	{
		name: "reject-rules",
		labels: `dcfw.input.policy=allow
dcfw.input.rule.1=reject proto tcp to any port 22
dcfw.input.rule.2=reject proto udp to any port 161
dcfw.input.rule.3=reject from 192.0.2.0/24
dcfw.input.rule.4=reject proto icmp`,
		policy: enabled(labels.Allow, labels.Allow,
			[]labels.Rule{
				{Action: labels.Reject, Proto: labels.TCP, To: labels.Endpoint{Ports: ports("22")}},
				{Action: labels.Reject, Proto: labels.UDP, To: labels.Endpoint{Ports: ports("161")}},
				{Action: labels.Reject, Proto: labels.AnyProtocol, Family: labels.IPv4, From: labels.Endpoint{Addrs: pfx("192.0.2.0/24")}},
				{Action: labels.Reject, Proto: labels.ICMP, Family: labels.IPv4},
			}, nil),
	},
	{
		name: "log-rules",
		labels: `dcfw.input.rule.1=allow log proto tcp to any port 443 comment https
dcfw.input.rule.2=deny log from 198.51.100.7
dcfw.output.policy=deny
dcfw.output.rule.1=reject log proto tcp to any port 25 comment "no mail"
dcfw.output.rule.2=reject log to 203.0.113.0/24`,
		policy: enabled(labels.Deny, labels.Deny,
			[]labels.Rule{
				{Action: labels.Allow, Log: true, Proto: labels.TCP, To: labels.Endpoint{Ports: ports("443")}, Comment: "https"},
				{Action: labels.Deny, Log: true, Proto: labels.AnyProtocol, Family: labels.IPv4, From: labels.Endpoint{Addrs: pfx("198.51.100.7")}},
			},
			[]labels.Rule{
				{Action: labels.Reject, Log: true, Proto: labels.TCP, To: labels.Endpoint{Ports: ports("25")}, Comment: "no mail"},
				{Action: labels.Reject, Log: true, Proto: labels.AnyProtocol, Family: labels.IPv4, To: labels.Endpoint{Addrs: pfx("203.0.113.0/24")}},
			}),
	},
	{
		name: "ipv6",
		labels: `dcfw.input.rule.1=allow proto tcp from fd00:1::/64 to any port 22
dcfw.input.rule.2=allow proto icmpv6
dcfw.input.rule.3=deny from 2001:db8::1
dcfw.input.rule.4=allow from 2001:db8:8000::/33
dcfw.output.rule.1=deny proto tcp to 2001:db8::/32 port 25`,
		policy: enabled(labels.Deny, labels.Allow,
			[]labels.Rule{
				{Action: labels.Allow, Proto: labels.TCP, Family: labels.IPv6,
					From: labels.Endpoint{Addrs: pfx("fd00:1::/64")}, To: labels.Endpoint{Ports: ports("22")}},
				{Action: labels.Allow, Proto: labels.ICMPv6, Family: labels.IPv6},
				{Action: labels.Deny, Proto: labels.AnyProtocol, Family: labels.IPv6, From: labels.Endpoint{Addrs: pfx("2001:db8::1")}},
				{Action: labels.Allow, Proto: labels.AnyProtocol, Family: labels.IPv6, From: labels.Endpoint{Addrs: pfx("2001:db8:8000::/33")}},
			},
			[]labels.Rule{
				{Action: labels.Deny, Proto: labels.TCP, Family: labels.IPv6,
					To: labels.Endpoint{Addrs: pfx("2001:db8::/32"), Ports: ports("25")}},
			}),
	},
	{
		name: "lists-and-ranges",
		labels: `dcfw.input.rule.1=allow proto tcp from 10.0.0.1,10.0.0.2 port 1000-2000 to 10.1.0.0/16,10.2.0.0/20 port 80,443,8000-8080
dcfw.output.policy=deny
dcfw.output.rule.1=allow proto udp to 10.9.9.9 port 53,5353`,
		policy: enabled(labels.Deny, labels.Deny,
			[]labels.Rule{{Action: labels.Allow, Proto: labels.TCP, Family: labels.IPv4,
				From: labels.Endpoint{Addrs: pfx("10.0.0.1", "10.0.0.2"), Ports: ports("1000-2000")},
				To:   labels.Endpoint{Addrs: pfx("10.1.0.0/16", "10.2.0.0/20"), Ports: ports("80", "443", "8000-8080")}}},
			[]labels.Rule{{Action: labels.Allow, Proto: labels.UDP, Family: labels.IPv4,
				To: labels.Endpoint{Addrs: pfx("10.9.9.9"), Ports: ports("53", "5353")}}}),
	},
	{
		name: "port-without-proto",
		labels: `dcfw.input.policy=reject
dcfw.input.rule.1=allow to any port 53
dcfw.input.rule.2=reject to any port 5000-5010
dcfw.input.rule.3=deny from any port 123`,
		policy: enabled(labels.Reject, labels.Allow,
			[]labels.Rule{
				{Action: labels.Allow, Proto: labels.AnyProtocol, To: labels.Endpoint{Ports: ports("53")}},
				{Action: labels.Reject, Proto: labels.AnyProtocol, To: labels.Endpoint{Ports: ports("5000-5010")}},
				{Action: labels.Deny, Proto: labels.AnyProtocol, From: labels.Endpoint{Ports: ports("123")}},
			}, nil),
	},
	{
		name: "on-interfaces",
		labels: `dcfw.input.rule.1=allow on eth* proto tcp to any port 80
dcfw.input.rule.2=allow on mgmt0
dcfw.output.policy=deny
dcfw.output.rule.1=allow on veth1 proto udp to any port 514
dcfw.output.rule.2=allow on * proto tcp to any port 443`,
		policy: enabled(labels.Deny, labels.Deny,
			[]labels.Rule{
				{Action: labels.Allow, Iface: "eth*", Proto: labels.TCP, To: labels.Endpoint{Ports: ports("80")}},
				{Action: labels.Allow, Iface: "mgmt0", Proto: labels.AnyProtocol},
			},
			[]labels.Rule{
				{Action: labels.Allow, Iface: "veth1", Proto: labels.UDP, To: labels.Endpoint{Ports: ports("514")}},
				{Action: labels.Allow, Iface: "*", Proto: labels.TCP, To: labels.Endpoint{Ports: ports("443")}},
			}),
	},
	{
		name: "protocols",
		labels: `dcfw.input.policy=allow
dcfw.input.rule.1=deny proto igmp
dcfw.input.rule.2=deny proto esp
dcfw.input.rule.3=allow proto sctp to any port 9
dcfw.input.rule.4=allow proto dccp from any port 5
dcfw.input.rule.5=allow proto udplite to any port 7
dcfw.input.rule.6=deny proto 200
dcfw.input.rule.7=allow proto icmp from 10.0.0.0/8
dcfw.output.rule.1=deny proto gre`,
		policy: enabled(labels.Allow, labels.Allow,
			[]labels.Rule{
				{Action: labels.Deny, Proto: labels.IGMP},
				{Action: labels.Deny, Proto: labels.ESP},
				{Action: labels.Allow, Proto: labels.SCTP, To: labels.Endpoint{Ports: ports("9")}},
				{Action: labels.Allow, Proto: labels.DCCP, From: labels.Endpoint{Ports: ports("5")}},
				{Action: labels.Allow, Proto: labels.UDPLite, To: labels.Endpoint{Ports: ports("7")}},
				{Action: labels.Deny, Proto: 200},
				{Action: labels.Allow, Proto: labels.ICMP, Family: labels.IPv4, From: labels.Endpoint{Addrs: pfx("10.0.0.0/8")}},
			},
			[]labels.Rule{{Action: labels.Deny, Proto: labels.GRE}}),
	},
	{
		name:     "lockdown",
		labels:   `(labels with errors: fail closed)`,
		lockdown: true,
	},
	{
		name: "names",
		labels: `dcfw.input.policy=deny
dcfw.input.rule.1=allow proto tcp from web to any port 5432
dcfw.output.policy=deny
dcfw.output.rule.1=allow proto tcp to db,10.0.0.5 port 5432
dcfw.output.rule.2=allow proto tcp to api.example.com port 443
dcfw.output.rule.3=deny to blocked.example
(web 172.20.0.3 fd00:20::3, db 172.20.0.2, api.example.com 192.0.2.11 192.0.2.10 2001:db8::10, blocked.example none)`,
		policy: enabled(labels.Deny, labels.Deny,
			[]labels.Rule{
				{Action: labels.Allow, Proto: labels.TCP,
					From: labels.Endpoint{Names: []string{"web"}}, To: labels.Endpoint{Ports: ports("5432")}},
			},
			[]labels.Rule{
				{Action: labels.Allow, Proto: labels.TCP, Family: labels.IPv4,
					To: labels.Endpoint{Addrs: pfx("10.0.0.5"), Names: []string{"db"}, Ports: ports("5432")}},
				{Action: labels.Allow, Proto: labels.TCP,
					To: labels.Endpoint{Names: []string{"api.example.com"}, Ports: ports("443")}},
				{Action: labels.Deny, Proto: labels.AnyProtocol,
					To: labels.Endpoint{Names: []string{"blocked.example"}}},
			}),
		addrs: NameAddrs{
			"web":             addrs("172.20.0.3", "fd00:20::3"),
			"db":              addrs("172.20.0.2"),
			"api.example.com": addrs("192.0.2.11", "192.0.2.10", "2001:db8::10"),
		},
	},
}

// The same policies with their log rules sent to an NFLOG group: the log
// rules of both actions, of both policies, and of a lockdown; and one with
// its log rules removed.
func init() {
	byName := map[string]policyCase{}
	for _, c := range policyCases {
		byName[c.name] = c
	}
	for _, name := range []string{"log-rules", "reject-policies", "lockdown"} {
		policyCases = append(policyCases, withGroup(byName[name]))
	}
	noLogs := byName["log-rules"]
	noLogs.name, noLogs.noLogs = "log-rules-off", true
	policyCases = append(policyCases, noLogs)
}
