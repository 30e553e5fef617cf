// Package nft makes the nftables ruleset of one network namespace match a
// dcfw policy.
//
// It owns two tables per namespace: `table inet dcfw`, with the filter
// chains input and output (priority filter) and the chains stamp and
// unstamp of the raw-frame filter, and `table netdev dcfw`, with one egress
// chain per interface except lo (raw.go). Compile turns a
// labels.Policy into the desired Table (pure; golden-tested through
// Table.String, which renders it the way `nft list table inet dcfw`
// prints it). Conn reads the live table over netlink, compares it with the
// desired one and writes only what differs, as one atomic nf_tables batch:
//
//	tbl, err := nft.Compile(policy, containerID) // or nft.Lockdown(containerID)
//	c, err := nft.Dial(ns.Fd())
//	defer c.Close()
//	res, err := c.Apply(tbl, false) // res.Writes == 0: nothing differed
//
// Memory has the same Apply, Remove and Read on an in-memory table, with
// the same comparison and Results (a kernel test checks they agree), for
// tests of callers that run without root.
//
// # Ruleset layout
//
// Each filter chain holds, in order: loopback accept (`iif lo` / `oif
// lo`); `ct state established,related ct mark V accept`; `ct state invalid
// drop`; `ct state related ct status ! confirmed accept` (reject
// responses); the other chain's verdict rules mirrored for `ct direction
// reply` packets (addresses, ports and interfaces swapped), ended by the
// other chain's policy; ICMPv6 router and neighbour discovery (types
// 133-136) accept; the user rules in label order, accepting ones as `ct
// mark set V accept`; for allow `ct mark set V accept`, for deny and reject
// a rate-limited log rule (3/minute, burst 10, prefix "[DCFW BLOCK
// <id12>] "); for reject `meta l4proto tcp reject with tcp reset` and
// `reject` (ICMP/ICMPv6 port-unreachable). The chain policy is drop for
// deny and reject, accept for allow. V is the namespace's conntrack mark
// (Secret.Conn, conntrack.go): a connection the ruleset did not accept
// (opened before it, or under an older or tampered one) is decided again. A `log` user rule is a rate-limited log rule (prefix
// "[DCFW ALLOW <id12>] " or "[DCFW BLOCK <id12>] ") right before its
// verdict rule. Every rule has a comment ("dcfw.input.rule.1: <comment>",
// "dcfw: loopback", ...). Lockdown is the fail-closed table: loopback only,
// and a log rule, plus the raw-frame filter.
//
// The raw-frame filter (raw.go): chain stamp (hook output, priority
// filter + 10) sets skb mark and priority to a 64-bit per-namespace
// secret on every packet leaving through an interface other than lo;
// each egress chain (`hook egress device "<dev>"`, policy drop) accepts a
// frame carrying the secret and sets both back to 0, accepts ARP
// (`@ll,96,16 0x806`), and drops everything else: frames sent through
// AF_PACKET sockets, VLAN-tagged frames, other ethertypes. Chain unstamp
// (hook prerouting, priority raw) clears mark and priority on packets
// coming in (multicast and broadcast copies looped back to the local
// stack carry the stamp). Every enabled policy and Lockdown get it: a raw
// frame bypasses conntrack, the output rules and the source address the
// stack would use, whatever the output policy.
//
// # Writing as little as possible
//
// Apply keeps the live secret (mark and priority, and the conntrack mark
// V) and makes new values only where the live tables have none; it lists
// the namespace's interfaces on every Apply and adds or removes egress
// chains to match (a network connect gets its chain on the next Apply,
// ApplyKnown included). Compiled tables carry no secret: String prints
// $conn_mark, $raw_mark, $raw_priority. Apply compares chain by chain: a
// missing table or chain is created (a
// dormant table is recreated); a
// chain with the wrong type, hook or priority, or one dcfw does not make,
// is deleted (and recreated) in the same batch; a wrong policy alone is
// updated in place (no rule is rewritten); any difference in a chain's
// rules (added, removed, altered, reordered, other comment) rewrites that
// chain: flush and add, in the same batch. Any write to input or output
// makes a new V, so both filter chains are rewritten together (each also
// mirrors the other's rules); the stamp, unstamp and egress chains are
// only written when they differ. An identical table costs six small
// netlink requests and one interface listing, and no write at all (no
// batch is opened). ApplyKnown
// costs one request (the generation ID) and the interface listing when
// nothing at all was committed
// in the namespace since the Apply of the same table that returned that
// generation (Result.Generation; see ApplyKnown for why that is sound). Other tables
// in the namespace are never read for writing, never flushed, never
// touched (Docker keeps NAT rules for its embedded DNS there). Result says
// what differed (for drift logs) and what was written. Remove deletes
// both tables.
//
// # Be aware
//
//   - What the raw-frame filter cannot stop: a process with CAP_NET_ADMIN
//     (`--cap-add NET_ADMIN`, `--privileged`) can read the secret from
//     nf_tables, set conntrack marks, or delete the tables; dcfw repairs
//     what it finds on the next Apply, nothing more. A kernel without the
//     netdev egress hook (before 5.16) gets no raw-frame filter: Apply
//     applies the rest and sets Result.EgressUnsupported. ARP frames are
//     let through whoever sends them (ARP spoofing stays possible). Only
//     packets that pass the output hook are stamped: a container that
//     forwards (ip_forward, which needs CAP_NET_ADMIN to turn on) gets its
//     forwarded packets dropped at egress. Outgoing packets lose the skb
//     mark and priority they had (SO_MARK, SO_PRIORITY, qdisc classes) at
//     the egress chain. Frames sent through AF_XDP sockets (which need
//     CAP_NET_RAW) are not known to pass the egress hook; not tested.
//
//   - Connections from before the rules (conntrack.go): decided again
//     only when conntrack saw them open. In a namespace where nothing used
//     conntrack before dcfw's table (no Docker DNS NAT rules, e.g. the
//     default bridge network), the kernel picks an older TCP connection up
//     mid-stream and takes its first packet after the table as "new" in
//     that packet's direction: it is judged by that direction's rules, so
//     a connection whose next packet comes from the side that did not open
//     it may be dropped though allowed (or, judged as new, allowed though
//     the other direction's rules would forbid it). V is not secret: the
//     container may read /proc/net/nf_conntrack, but cannot set a
//     conntrack mark without CAP_NET_ADMIN. An ICMP error about an
//     older, not yet re-marked connection is dropped until the connection
//     is decided again.
//
//   - Sets only for names. A name (to db, from web) is a lookup in a
//     named set of the table, one per name and family (`ip daddr @ip_db`),
//     filled from the addresses CompileNames is given; a name without
//     addresses has an empty set and matches nothing. The chains never
//     depend on the addresses, so when only they change, Apply writes one
//     batch of element additions and deletions (Result.Sets) and no chain:
//     the conntrack mark stays and live connections go on. In a rule for
//     both families a name is two kernel rules, one per family.
//
//   - Addresses and ports are not put in sets. A label rule with lists (`from A,B port 1,2 to C`)
//     becomes one kernel rule per combination of protocol × from-address ×
//     from-port × to-address × to-port, consecutive and in that order;
//     `port` without `proto` means TCP and UDP (two rules); a reject rule
//     that may match TCP and other protocols is two rules (reset, then
//     port-unreachable); `log` adds one rule per combination. Compile
//     refuses (ErrTooManyRules) a label rule that would need more than
//     MaxRulesPerLabelRule (256) kernel rules, rather than cutting it
//     short; the caller locks the namespace down. Each of the log rules of
//     one label rule has its own rate limit.
//
//   - Compile also refuses (ErrTableTooLarge) a policy whose table would
//     hold more than MaxTableRules (5,000) kernel rules, all chains and
//     the built-in rules counted, and each label-made verdict rule twice
//     (it also stands mirrored in the other chain): an Apply costs time and memory linear in
//     the rules (about 0.25 s and 95 MB to write 5,000), and label values
//     come from images, so a policy could otherwise ask for 100,000 rules.
//     The count comes from the lengths of the lists, before any rule is
//     built, and saturates instead of wrapping around.
//
//   - Compile also refuses inconsistent input (ports on icmp, addresses of
//     the other family, bad interface names, ...) with ErrInvalidPolicy:
//     it does not trust that the label layer caught everything.
//
//   - Rules compare by their expressions in canonical form (decoded and
//     encoded again by github.com/google/nftables/expr, which normalises
//     attribute order and the attributes the kernel adds, such as the log
//     level) plus their userdata (the comment). The comparison therefore
//     covers the attributes that library decodes; a change the kernel
//     stores in an attribute the library ignores goes unnoticed. A rule
//     holding an expression dcfw never makes (counter, jump, anything
//     unknown to the library) never equals a desired rule and is
//     replaced. Handles and positions are not compared.
//
//   - Reads are our own nfnetlink dumps (tables, chains, rules of our two
//     tables, between two generation-ID requests, retried when the ruleset changed
//     meanwhile): v0.3.0's GetRules silently drops expressions it does not
//     know, notices no interrupted dump, and the library has no generation
//     request. Writes use the library, which has the egress hook and the
//     chain's device; it does not decode `ct ... set` (NFTA_CT_SREG), which
//     key.go adds.
//
//   - The batch is not bound to the generation that was read (v0.3.0 has
//     no NFNL_BATCH_GENID). If the ruleset changes between read and write,
//     the chains we write still end up exactly as desired; a chain we did
//     not write may keep a change made in between until the next Apply.
//     A batch failing with ENOENT or EEXIST (someone deleted or created
//     something meanwhile) is retried once after a fresh read.
//
//   - v0.3.0 neither sizes the socket for large batches nor reports the
//     handles of added rules. Each batch gets a socket with send and
//     receive buffers sized for it (SO_SNDBUFFORCE/SO_RCVBUFFORCE, falling
//     back to the sysctl-capped sizes): the kernel answers every message
//     and echoes every added rule, so a 1,000-rule batch needs megabytes.
//     Should replies still be lost (ENOBUFS), Apply reads the table back
//     and succeeds when it is as desired. Handles are only known by Read.
//
//   - Table flags are checked: a dormant table (all its chains off) is
//     deleted and created anew in the same batch, since the kernel refuses
//     to wake a table and add a base chain to it in one batch. Sets someone adds to our table are deleted;
//     one of ours altered into another type, or given flags, a timeout or
//     a size, makes Apply create the table anew. Maps, flowtables or
//     objects that someone adds are not looked at; they do nothing unless
//     a rule refers to them, and any such rule is foreign and removed. A table someone created with the
//     owner flag cannot be written by us (the kernel refuses).
//
//   - String renders like nft 1.0.x, including what nft leaves out
//     (`meta nfproto ipv4` before `meta l4proto icmp`, dependencies of
//     `tcp dport`). Protocols the rule grammar does not name print as
//     numbers, where nft prints names from /etc/protocols. A rule dcfw
//     does not make prints as a comment naming its expressions. The
//     kernel tests compare String with `nft list table inet dcfw` for
//     every golden case.
//
//   - Logging happens in the kernel log by default; for a namespace other
//     than the host's the host must allow it (sysctl
//     net.netfilter.nf_log_all_netns=1), or the log rules log nothing.
//     Table.LogToGroup (loggroup.go) sends them to an NFLOG group in the
//     namespace instead (`log prefix "dcfw.input.rule.3" group N`), which
//     needs no sysctl, for dcfw to receive (package nflog); its prefixes
//     are label keys, and the map it returns names the rule behind each.
//     Rate limits are the same in both modes.
package nft
