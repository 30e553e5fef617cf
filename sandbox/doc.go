// Package sandbox finds a starting container's network namespace before
// its process runs: the one new namespace in Docker's sandbox directory
// (--netns-dir) that holds a process in the container's cgroup.
//
// A Finder takes a Request (a container, the time from which namespaces
// are new, a deadline) and answers with a Result: the namespace, open, or
// the reason there is none. It only reads (directory listings, procfs);
// what to write there is the receiver's business. WatchedDir notes when
// each sandbox file appears (inotify, or polling where that is not
// available) and looks up the owners of namespaces in procfs
// (netnsutil.ProcTable). Why the owner, and not the time or an address,
// identifies the namespace: docs/DESIGN.md.
package sandbox
