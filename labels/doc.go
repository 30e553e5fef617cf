// Package labels turns a container's dcfw.* labels into a validated,
// canonical firewall policy, or into errors a person can act on.
//
// It is pure: no Docker, no netlink, no I/O, no logging. Parse reads a
// label map; ParseRule reads one rule; Rule.String prints a rule back.
//
// # Labels
//
//	dcfw.enable          true/false, yes/no, on/off, 1/0, t/f, y/n (any case)
//	                     absent: the container is Unmanaged and nothing else is read
//	dcfw.input.policy    allow, deny or reject (any case); default deny
//	dcfw.output.policy   allow, deny or reject (any case); default allow
//	dcfw.input.rule.N    one inbound rule; N decimal digits, 0..4294967295
//	dcfw.output.rule.N   one outbound rule
//
// Rules apply in ascending numeric order of N. rule.1 and rule.01 in one
// direction are an error (ErrDuplicateRule). Any other key under "dcfw."
// (in any case, so DCFW.input.policy too) is an error (ErrUnknownLabel)
// with a "did you mean" suggestion, because an ignored typo could leave a
// container open. Keys are otherwise case-sensitive, as Docker labels are.
// Keys that only look like dcfw labels (dcfw-enable, a leading space) are
// not read; NearMisses reports them.
//
// # Rule grammar
//
//	RULE   := ACTION [log] [on IFACE] [proto PROTO] [from ADDRS [port PORTS]] [to ADDRS [port PORTS]] [comment TEXT]
//	ACTION := allow | deny | reject
//	IFACE  := 1..15 printable ASCII characters except / and :, optionally ending in * (eth*)
//	PROTO  := tcp | udp | icmp | icmpv6 | igmp | sctp | udplite | dccp | esp | ah | gre | 0..255 | any | all
//	ADDRS  := ADDR[,ADDR...]     ADDR := any | IPv4 | IPv4/len | IPv6 | IPv6/len
//	PORTS  := PORT[,PORT...]     PORT := 1..65535 | LO-HI
//	TEXT   := a word, or "a quoted string" with \" and \\ escapes; printable, at most 128 bytes
//
// In detail:
//
//   - Any white space separates tokens; every token counts, also one
//     character long ones (port 8).
//   - Keywords, actions, protocol names and `any` are case-insensitive;
//     interface names and comments are not.
//   - After the action, clauses come in any order, each at most once. `port`
//     belongs to the from or to directly before it and is an error anywhere
//     else.
//   - from is the packet's source and to its destination in both directions.
//     on is the incoming interface of input rules and the outgoing one of
//     output rules.
//   - port without proto means TCP and UDP (Proto is AnyProtocol with
//     ports; Rule.Protocols says [TCP UDP]). port with a protocol that has
//     no ports (icmp, igmp, esp, ah, gre, most numbers) is an error.
//   - A protocol number that has a name is that protocol: proto 6 is proto
//     tcp. Protocol is just the number; String prints the name. all (the
//     iptables word the original DCFW passed through) is any.
//   - Lists are written without spaces: to 10.0.0.1,10.0.0.2. A list with
//     spaces after or before its commas is an error, not two clauses.
//   - A bare keyword is never a value: `comment log` is a missing comment
//     (write comment "log"), `on from` a missing interface.
//
// # Families
//
// The addresses decide a rule's family: only IPv4 addresses make an IPv4
// rule, only IPv6 ones an IPv6 rule, `any` or no address a rule for both.
// All addresses of one rule, from and to together, must be of one family;
// mixing is an error (write two rules). 0.0.0.0/0 is every IPv4 address (an
// IPv4 rule), ::/0 every IPv6 address. icmp and igmp are IPv4 protocols and
// icmpv6 an IPv6 one: they set the family of a rule without addresses and
// conflict with addresses of the other family.
//
// # Names
//
// An element of an address list that is not an address is a name: a
// container name, a compose service name or network alias, or a DNS host
// name (to db,10.0.0.5; from web; to api.example.com). An element with a
// colon, or whose part before any '/' is digits and dots only, is an
// address, so a mistyped address is an address error and never a name
// that silently resolves to nothing. A name must be a host name as RFC 1123
// allows it (letters, digits, hyphens; labels of 1..63 bytes; at most
// MaxNameLen bytes; the last label not all digits); case is folded and a
// trailing dot dropped. Names are kept apart from addresses (Endpoint.Names)
// and do not decide the family: a name in an IPv4 rule matches its IPv4
// addresses. What a name stands for is the caller's business (labels does
// no I/O). At most MaxNamesPerContainer distinct names per container
// (ErrTooManyNames). A keyword (to, port, log, ...) and any cannot be names.
//
// # Canonical form
//
// Parse and ParseRule return rules in canonical form, so that two spellings
// of one rule compare equal with Rule.Equal: prefixes are masked
// (10.1.2.3/8 is 10.0.0.0/8; host bits are cleared, not an error), address
// lists are sorted with duplicates, contained prefixes and adjacent halves
// merged into the fewest prefixes; port lists are sorted and overlapping or
// adjacent ranges joined (80,81,82 is 80-82); `any` is an empty list;
// protocol numbers with a name are that name. Rule.String prints the
// canonical form in a fixed clause order; parsing it gives an equal rule.
//
// # Errors
//
// Parse and ParseRule return an Errors: the problems found, sorted by label
// key, each an *Error with the key, the full label value, the byte offset
// and text of the offending token, a message, an optional hint and "did you
// mean", and a sentinel for errors.Is (ErrUnknownLabel, ErrRuleNumber,
// ErrDuplicateRule, ErrSyntax, ErrValue, ErrConflict, ErrValueTooLong,
// ErrTooManyRules, ErrTooManyErrors). Error() renders
//
//	dcfw.input.rule.1: "allow proto tcp frm 10.0.0.1": unknown keyword "frm" at column 17 (did you mean "from"?)
//
// Columns count characters from 1. The container's name is for the caller
// to add.
//
// # Hostile labels
//
// Labels are attacker-controlled: an image's own LABELs end up on its
// containers. So the work of Parse, the number of its errors and the size
// of their messages are bounded by these limits, not by the input:
//
//   - MaxValueLen (4 KiB): a longer value is one ErrValueTooLong error,
//     pointing at where it goes over the limit; its text is not read.
//   - MaxRulesPerChain (1,000) rule labels per direction: the first 1,000
//     in rule-number order are read, the others are one ErrTooManyRules.
//   - MaxErrorsPerLabel (3): the leftmost errors of a label are kept, and an
//     ErrTooManyErrors says "… and 9 more errors in this label" and points at
//     the next one. The parser only counts errors past the limit.
//   - MaxErrors (20) per Parse: Parse reads labels in key order and stops
//     when it has this many; the last error (Key "", ErrTooManyErrors) says
//     how many errors were not shown and how many labels not checked.
//   - Messages quote keys, values and tokens with Quote, so control
//     characters, C1, bidi controls and zero-width or other invisible
//     characters show as escapes (\u202e) and never reach a log raw; a key
//     is shown up to about 100 bytes, a token up to 64, and a long value as
//     an excerpt around the offending token (the column still counts in
//     the whole value). One line is at most about 1 KiB.
//
// Quote and SafeText are for the caller's own log fields (container names,
// label keys). NearMisses finds keys that were meant to be dcfw labels but
// are not (DCFW.enable, dcfw-output.policy, " dcfw.enable", a zero-width
// space in the prefix): Parse ignores them, which could leave a container
// open, so the caller should warn about them, also for an Unmanaged
// container.
//
// # Be aware
//
//   - Without dcfw.enable nothing is validated and Parse returns Unmanaged
//     without error, as the original DCFW ignored such containers. Use
//     IgnoredKeys to warn about dcfw.* labels on such a container. With
//     dcfw.enable=false the other labels are still validated.
//   - Within one rule, a quoting error (unterminated quote, quote inside a
//     word) is reported alone; after an unknown keyword the parser skips to
//     the next keyword; conflicts (families, port with icmp) are only
//     checked in a rule without other errors. So fixing one error can
//     reveal another in the same rule. Errors in different labels are all
//     reported, up to the limits above.
//   - IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) are rejected rather than
//     unmapped: they never appear in packets on the wire, so an IPv6 rule
//     with one would silently never match, and unmapping would silently
//     change the family. Zones (fe80::1%eth0) are rejected: nftables
//     matches addresses, not zones.
//   - `on *` and `on any` are errors: leave out on to match every interface.
//     Interface names are checked for form only; whether the interface
//     exists in the container is not known here.
//   - Protocol names are only those of the grammar; others (ospf, vrrp, ...)
//     are written as numbers. Every number 0..255 is accepted, including
//     IPv6 extension headers (0, 43, 44, 60): nftables usually matches the
//     protocol after the extension headers, so such a rule may never match.
//   - Port 0 cannot be matched, and ports are plain decimal numbers: no
//     service names (http), no sign. Leading zeros are allowed in ports,
//     prefix lengths, protocol numbers and rule numbers.
//   - `comment ""` is accepted and means no comment.
//   - Rule.Equal ignores Rule.Label; canonical form makes equal sets of
//     addresses equal, but it does not reason across fields (proto icmp from
//     0.0.0.0/0 and proto icmp match the same packets yet differ).
package labels
