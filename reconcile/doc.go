// Package reconcile is dcfw's controller: it keeps the dcfw table in every
// labelled container's network namespace equal to what the container's
// labels describe.
//
// How it works:
//
//   - Run subscribes to the engine's events first and only then reconciles
//     every running container, so a container that starts in between is
//     never missed. Afterwards it reconciles everything every Interval, and
//     the affected containers at once on each event (start, restart, die,
//     network connect/disconnect).
//   - Namespaces, not containers, are the unit: containers are grouped by
//     the identity (device and inode) of their network namespace. Containers
//     that share one (network_mode container:X) and want the same get one
//     table, whose kernel log prefix names the namespace's owner (the
//     container not joined via container:X). If they want different things
//     the namespace is locked down and the conflict logged.
//   - Label errors lock the namespace down (only loopback) unless OnError is
//     Skip, and so does a policy that needs more kernel rules than nft
//     allows. dcfw.enable=false removes dcfw's table. Labels are parsed and
//     compiled once per distinct set of dcfw labels (verdicts.go), not in
//     every cycle; keys that look like dcfw labels but are not
//     (labels.NearMisses) are warned about, on unmanaged containers too.
//   - dcfw labels a container shares (same key and value) with its image
//     are label errors unless ImageLabels is Trust (images.go): the engine
//     merges an image's LABELs into its containers' labels, and rules are
//     the deployer's to write. Image labels are asked for once per image ID
//     and judged once per label set and image (verdicts.go); the sandbox
//     path looks them up off the loop before it writes, and writes the
//     lockdown when it cannot.
//   - A labelled container that could change its own rules (NET_ADMIN,
//     SYS_ADMIN, --privileged, from inspect) is warned about once per
//     change, or locked down with Strict (privileges.go); where the kernel
//     has no egress hook (Linux < 5.16), so raw frames are not filtered,
//     dcfw says so once and warns about each labelled container that keeps
//     NET_RAW.
//   - Label keys and values, container and network names reach the log
//     escaped and bounded (logsafe.go): they are the containers' input.
//   - A container in the host's network namespace is never touched: both its
//     network mode and the identity of its namespace are checked.
//   - Every write is one netlink batch (see package nft); nothing is written
//     when the live table already matches. Nothing is read either when the
//     namespace's nf_tables generation has not moved since dcfw last found
//     or made the same desired table there for the same containers and
//     processes (enforce, nft.Conn.ApplyKnown): any change in the
//     namespace, such as tampering, moves it and brings back the full read.
//     A write that fails while the live table differs (one the container
//     made first with flags owner, say) is an error in every cycle, not
//     rate-limited like other errors: the namespace is not protected as
//     labelled.
//   - All reconciling runs on one goroutine: there are never two writers in
//     one namespace, and the controller's state needs no locks. The sandbox
//     path's search for a starting container's namespace runs on other
//     goroutines, which only read; its write is made on the loop.
//   - A starting container's namespace is searched for from its create
//     event on (sandbox_path.go): the new sandbox namespace holding a process in
//     the container's cgroup. Its labels, cached from the create event, are
//     applied there before its process starts; the PID path then finds
//     them in place and writes nothing.
//
// The engine, the namespaces, the firewall and Docker's sandbox directory
// are interfaces (Engine, Namespaces, Firewall, SandboxFinder) with real
// implementations (engine.Moby, ProcNamespaces, NFTFirewall,
// sandbox.Finder). The tests run the controller on an in-memory engine
// (enginetest), fake namespaces and nft.Memory, without root or an engine.
//
// Be aware:
//   - Inspect results are cached per container until an event about it
//     arrives (or the event stream reconnects). A PID reused meanwhile is
//     caught by comparing its namespace with the container's sandbox file
//     (pidcheck.go); where dcfw cannot see that file (--netns-dir not
//     mounted, or without propagation) the window between the exit and
//     the die event remains, and the host's namespace is refused
//     regardless.
//   - A container the events say is stopped is not inspected (it may be
//     starting, and the inspect would block). If its start event is lost,
//     the first listing at least an Interval after its create or die event
//     that shows it running brings it back (lostevents.go).
//   - A full cycle keeps one file descriptor per managed container open
//     while it runs.
//   - Drift is told from change by memory: after a restart dcfw cannot
//     know whether a difference it finds was drift, and logs it as a change.
//   - Every engine call has a deadline (APITimeout; the answer to an event
//     subscription too). While the engine does not answer, or the event
//     stream is down, the namespaces dcfw wrote are checked and repaired
//     every Interval without it, found again through their containers'
//     PIDs with their identity checked (engine.go), and the log says so
//     once (warn) and when the engine answers again; containers that start
//     meanwhile wait for the engine. The first call that hangs holds the
//     loop up to APITimeout; after that the engine is tried with half an
//     Interval, and one inspect that hangs ends the cycle's engine calls.
//   - A starting container is protected before its process runs only by
//     the sandbox path (sandbox_path.go), and only when it can be done with
//     certainty: its labels are known (from its create event, or from a
//     listing while it ran before a restart; a container created before
//     dcfw started and never seen running gets the PID path), dcfw can
//     watch --netns-dir and read the host's /proc (pid: host), it is not a
//     dry run, and exactly one namespace created after the request holds a
//     process of the container before the workload starts. Otherwise it is
//     protected once its process runs (the PID path), and its first packets
//     may leave before the rules are in place; the "protection applied"
//     line says which path it was (path, and fallback with the reason).
//   - The sandbox path's identification rests on the runtime putting its
//     init process into the container's cgroup before it enters or creates
//     the namespace (runc applies the cgroup before it sends the namespace
//     paths to the init process), and on the container's ID being the last
//     element of its cgroup path (Docker's cgroupfs and systemd drivers).
//     Should the wrong namespace ever be written, the PID path notices when
//     the process runs, removes that table and protects the right
//     namespace (logged as an error).
package reconcile
