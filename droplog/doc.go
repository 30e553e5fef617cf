// Package droplog writes the packets a container's firewall blocks (and
// those its `log` rules match) into dcfw's own log, one structured line per
// packet, naming the container and the rule.
//
// dcfw's tables log through NFLOG (nft.Table.LogToGroup) rather than the
// kernel log, so no host sysctl is needed and every line says which
// container it is about. A Reader holds one NFLOG socket inside one
// managed namespace (package nflog) and turns each record into a line:
//
//	r, err := droplog.Open(nsFd, droplog.Container{Name: "web", ID: id}, rules, log, droplog.Config{})
//	...
//	r.SetRules(c, newRules) // after each Apply of a changed table
//	r.Blocked()             // logged blocked packets in the last hour
//	r.Close()               // when the namespace's containers go
//
// Hub keeps one Reader per namespace, keyed by namespace identity, for a
// controller that manages many.
//
// A line (message "packet blocked" or "packet logged") has the fields
// container, id (12 characters), direction (in, out), verdict (deny,
// reject, allow), rule (the label key: dcfw.input.rule.3, or
// dcfw.input.policy when the policy decided, or lockdown), comment (the
// label rule's, if any), proto, src, dst, sport and dport (protocols with
// ports), icmp_type and icmp_code (ICMP), and iface. Lines are capped per
// container per minute (Config.PerMinute); when the minute in which lines
// were held back is over, one line "packet lines suppressed" says how many,
// per rule (and how often the socket's buffer overflowed, if it did). A
// record whose prefix the table's rules do not name gets verdict "unknown"
// and its prefix as the rule.
//
// # Be aware
//
//   - The kernel's rate limit of each log rule (3/minute, burst 10) comes
//     first: a flood yields at most the burst and then 3 records a minute
//     per rule; what the kernel did not log, dcfw never sees. Blocked
//     counts the blocked packets that were logged, not every blocked one.
//   - An open Reader keeps its namespace alive (see package nflog): it must
//     be closed when the namespace's containers go. Close is the caller's
//     job; nothing in the socket says the containers have gone.
//   - Packets dropped without a log rule are not reported: invalid
//     conntrack state, replies the other direction's rules forbid, raw
//     frames the egress filter drops.
//   - A container with CAP_NET_ADMIN can add log rules of its own to the
//     group (forged lines, escaped but believable) or bind the group
//     first (Open fails with nflog.ErrGroupBusy: no lines from it).
//   - An output policy of deny also blocks, and so logs, the container's
//     own IPv6 multicast listener reports, sent when an interface comes up.
//   - Interface names are read inside the namespace when a record names an
//     index not seen before, and again at most once a minute otherwise (a
//     renamed interface may show its old name for that long).
package droplog
