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
//     Skip. dcfw.enable=false removes dcfw's table.
//   - A container in the host's network namespace is never touched: both its
//     network mode and the identity of its namespace are checked.
//   - Every write is one netlink batch (see package nft); nothing is written
//     when the live table already matches. Nothing is read either when the
//     namespace's nf_tables generation has not moved since dcfw last found
//     or made the same desired table there for the same containers and
//     processes (enforce, nft.Conn.ApplyKnown): any change in the
//     namespace, such as tampering, moves it and brings back the full read.
//   - All reconciling runs on one goroutine: there are never two writers in
//     one namespace, and the controller's state needs no locks. The sandbox
//     path's search for a starting container's namespace runs on other
//     goroutines, which only read; its write is made on the loop.
//   - A starting container's namespace is searched for from its create
//     event on (sandbox.go): the new sandbox namespace holding a process in
//     the container's cgroup. Its labels, cached from the create event, are
//     applied there before its process starts; the PID path then finds
//     them in place and writes nothing.
//
// The engine, the namespaces, the firewall and Docker's sandbox directory
// are interfaces (Docker, Namespaces, Firewall, SandboxDir) with real
// implementations (MobyDocker, ProcNamespaces, NFTFirewall,
// WatchedSandboxDir) and in-memory fakes beside them (FakeDocker,
// FakeNamespaces, FakeFirewall, FakeSandboxDir), so the controller logic is
// tested without root or an engine.
//
// Be aware:
//   - Inspect results are cached per container until an event about it
//     arrives (or the event stream reconnects). If a container's process
//     exits and its PID is reused before the die event is processed, a
//     cycle could open the wrong process's namespace; the window is the
//     time between the exit and the event, and the host's namespace is
//     refused regardless.
//   - A full cycle keeps one file descriptor per managed container open
//     while it runs.
//   - Drift is told from change by memory: after a restart dcfw cannot
//     know whether a difference it finds was drift, and logs it as a change.
//   - While the event stream is down (engine restarting) periodic cycles are
//     skipped; the reconnect triggers a full reconcile. Rules already in
//     place stay in place meanwhile.
//   - A starting container is protected before its process runs only by
//     the sandbox path (sandbox.go), and only when it can be done with
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
