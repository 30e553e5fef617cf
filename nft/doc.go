// Package nft makes the nftables ruleset of one network namespace match a
// dcfw policy.
//
// It owns exactly one table per namespace, `table inet dcfw`, with two base
// chains (filter, priority 0): input and output. Compile turns a
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
// Each chain holds, in order: loopback accept (`iif lo` / `oif lo`);
// `ct state established,related accept`; `ct state invalid drop`; ICMPv6
// router and neighbour discovery (types 133-136) accept; the user rules in
// label order; for deny and reject policies a rate-limited log rule
// (3/minute, burst 10, prefix "[DCFW BLOCK <id12>] "); for reject
// `meta l4proto tcp reject with tcp reset` and `reject` (ICMP/ICMPv6
// port-unreachable). The chain policy is drop for deny and reject, accept
// for allow. A `log` user rule is a rate-limited log rule (prefix
// "[DCFW ALLOW <id12>] " or "[DCFW BLOCK <id12>] ") right before its
// verdict rule. Every rule has a comment ("dcfw.input.rule.1: <comment>",
// "dcfw: loopback", ...). Lockdown is the fail-closed table: loopback only,
// and a log rule.
//
// # Writing as little as possible
//
// Apply compares chain by chain: a missing table or chain is created (a
// dormant table is recreated); a
// chain with the wrong type, hook or priority, or one dcfw does not make,
// is deleted (and recreated) in the same batch; a wrong policy alone is
// updated in place (no rule is rewritten); any difference in a chain's
// rules (added, removed, altered, reordered, other comment) rewrites that
// chain: flush and add, in the same batch. A change to the output rules
// never touches the input chain. An identical table costs five small
// netlink requests and no write at all (no batch is opened). ApplyKnown
// costs one request (the generation ID) when nothing at all was committed
// in the namespace since the Apply of the same table that returned that
// generation (Result.Generation; see ApplyKnown for why that is sound). Other tables
// in the namespace are never read for writing, never flushed, never
// touched (Docker keeps NAT rules for its embedded DNS there). Result says
// what differed (for drift logs) and what was written.
//
// # Be aware
//
//   - No nftables sets. A label rule with lists (`from A,B port 1,2 to C`)
//     becomes one kernel rule per combination of protocol × from-address ×
//     from-port × to-address × to-port, consecutive and in that order;
//     `port` without `proto` means TCP and UDP (two rules); a reject rule
//     that may match TCP and other protocols is two rules (reset, then
//     port-unreachable); `log` adds one rule per combination. Compile
//     refuses (ErrTooManyRules) a label rule that would need more than
//     MaxRulesPerLabelRule (256) kernel rules, rather than cutting it
//     short; the caller locks the namespace down. Each of the log rules of
//     one label rule has its own rate limit.
//   - Compile also refuses (ErrTableTooLarge) a policy whose table would
//     hold more than MaxTableRules (5,000) kernel rules, both chains and
//     the built-in rules counted: an Apply costs time and memory linear in
//     the rules (about 0.25 s and 95 MB to write 5,000), and label values
//     come from images, so a policy could otherwise ask for 100,000 rules.
//     The count comes from the lengths of the lists, before any rule is
//     built, and saturates instead of wrapping around.
//   - Compile also refuses inconsistent input (ports on icmp, addresses of
//     the other family, bad interface names, ...) with ErrInvalidPolicy:
//     it does not trust that the label layer caught everything.
//   - Rules compare by their expressions in canonical form (decoded and
//     encoded again by github.com/google/nftables/expr, which normalises
//     attribute order and the attributes the kernel adds, such as the log
//     level) plus their userdata (the comment). The comparison therefore
//     covers the attributes that library decodes; a change the kernel
//     stores in an attribute the library ignores goes unnoticed. A rule
//     holding an expression dcfw never makes (counter, jump, anything
//     unknown to the library) never equals a desired rule and is
//     replaced. Handles and positions are not compared.
//   - Reads are our own nfnetlink dumps (table, chains, rules of our table,
//     between two generation-ID requests, retried when the ruleset changed
//     meanwhile): v0.3.0's GetRules silently drops expressions it does not
//     know, notices no interrupted dump, and the library has no generation
//     request. Writes use the library.
//   - The batch is not bound to the generation that was read (v0.3.0 has
//     no NFNL_BATCH_GENID). If the ruleset changes between read and write,
//     the chains we write still end up exactly as desired; a chain we did
//     not write may keep a change made in between until the next Apply.
//     A batch failing with ENOENT or EEXIST (someone deleted or created
//     something meanwhile) is retried once after a fresh read.
//   - v0.3.0 neither sizes the socket for large batches nor reports the
//     handles of added rules. Each batch gets a socket with send and
//     receive buffers sized for it (SO_SNDBUFFORCE/SO_RCVBUFFORCE, falling
//     back to the sysctl-capped sizes): the kernel answers every message
//     and echoes every added rule, so a 1,000-rule batch needs megabytes.
//     Should replies still be lost (ENOBUFS), Apply reads the table back
//     and succeeds when it is as desired. Handles are only known by Read.
//   - Table flags are checked: a dormant table (all its chains off) is
//     deleted and created anew in the same batch, since the kernel refuses
//     to wake a table and add a base chain to it in one batch. Sets, maps, flowtables or objects that someone adds to our table are
//     not looked at; they do nothing unless a rule refers to them, and any
//     such rule is foreign and removed. A table someone created with the
//     owner flag cannot be written by us (the kernel refuses).
//   - String renders like nft 1.0.x, including what nft leaves out
//     (`meta nfproto ipv4` before `meta l4proto icmp`, dependencies of
//     `tcp dport`). Protocols the rule grammar does not name print as
//     numbers, where nft prints names from /etc/protocols. A rule dcfw
//     does not make prints as a comment naming its expressions. The
//     kernel tests compare String with `nft list table inet dcfw` for
//     every golden case.
//   - Logging happens in the kernel; for a namespace other than the host's
//     the host must allow it (sysctl net.netfilter.nf_log_all_netns=1), or
//     the log rules log nothing.
package nft
