// Package reconcile is dcfw's controller: it keeps the dcfw table in every
// labelled container's network namespace equal to what the container's
// labels describe.
//
// Run subscribes to the engine's events first and only then reconciles
// every running container, so that none that starts in between is missed;
// afterwards it reconciles everything every Interval, and the affected
// containers at once on each event. Namespaces, not containers, are the
// unit: containers that share one get one table. Label errors lock the
// namespace down (unless OnError is Skip), dcfw.enable=false removes the
// table, and the host's namespace is never written. All writes are made on
// one goroutine, so there are never two writers in one namespace.
//
// A starting container is protected before its process runs where that
// can be done with certainty (the sandbox path, sandbox_path.go, which
// asks package sandbox for the namespace); otherwise once its process runs
// (the PID path). The "protection applied" log line says which.
//
// The controller consumes interfaces it defines: Engine (engine/moby.Client),
// Namespaces (ProcNamespaces), Firewall (NFTFirewall), SandboxFinder
// (sandbox.Finder), NameResolver (NSResolver) and DropLog (droplog.Hub,
// which reads what the tables' log rules send to NFLOG when LogBlocked is
// LogDcfw). Status reports every managed container with its live table
// read again, for `dcfw status`. Its tests run it on enginetest, fake
// namespaces and nft.Memory, without root or an engine.
//
// How it works in detail, and what to be aware of: docs/DESIGN.md, "The
// controller" and "Names in rules".
package reconcile
