// Package names resolves the names of dcfw rules (to db, from web, to
// api.example.com) the way the container itself would: inside the
// container's network namespace, with the nameservers the caller gives
// (the resolver the engine gave the container; the caller does not take
// them from the container's own resolv.conf, which the container may
// rewrite).
//
// On a user-defined network that is the engine's embedded DNS at
// 127.0.0.11, which answers container names, compose service names and
// network aliases and forwards everything else. So a name means what it
// means to the container: `to db` is the db that this container would
// reach by that name, on its own networks.
//
// # Lookups
//
// Resolver.Lookup asks for A and AAAA records over a UDP socket created
// inside the namespace (DialIn), and again over TCP when the answer is
// truncated. A name with a dot is asked as it is written, never with a
// search domain appended; a single-label name (a compose service: web) is
// asked as written first, which the embedded DNS answers, and then with
// each search domain of the Config. The outcome is the addresses with
// their TTLs, or one of the errors ErrNotFound (NXDOMAIN), ErrNoAddress
// (the name exists but has no A or AAAA record), ErrTimeout (no answer in
// time), ErrServerFailure (SERVFAIL, REFUSED or a broken answer) and
// ErrNoNameserver (no nameserver to ask), each for errors.Is. More than
// labels.MaxAddrsPerName addresses is ErrTooManyAddresses.
//
// # Retention
//
// Cache keeps the addresses of each name: every address an answer holds
// stays until max(TTL, MinRetention), at most MaxRetention, after the last
// answer that held it, so a CDN that rotates its answers does not cut live
// connections, and a resolver that times out once does not empty a set. Cache.Update reports
// the addresses added and removed and whether the name's state (resolved,
// or which error) changed, so the caller can log each change once.
// Cache.Evict drops addresses at once, for the addresses of a container
// that stopped: the engine may give them to the next container.
//
// Be aware:
//   - The search domains come from the Config the caller gives; ndots is
//     not applied (a dotted name is never searched), which is what rule
//     authors mean by api.example.com.
//   - Lookups from the namespace are ordinary DNS queries: they show up in
//     the container's DNS server's logs, and a forwarder caches them.
//   - On the default bridge network the container's resolver is the host's
//     (copied into its resolv.conf) and knows no container names; the
//     caller may ask the engine for those.
package names
