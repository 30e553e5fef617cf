package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dcfw/dcfw/engine"
	"github.com/dcfw/dcfw/netnsutil"
)

// The finder's verdicts when it does not find a namespace. The controller
// logs them and leaves the container to the PID path.
var (
	errSandboxTimeout   = errors.New("no new sandbox namespace held a process of the container in time")
	errSandboxAmbiguous = errors.New("the container's namespace cannot be told apart")
)

// sandboxRequest asks the finder for the namespace of one starting
// container: the one new sandbox namespace that holds a process of the
// container (by its cgroup), which the runtime's init process is from the
// moment it enters the namespace, before the workload's first instruction.
type sandboxRequest struct {
	// ctx ends when the controller no longer wants an answer (the
	// container started or died, or dcfw stops).
	ctx   context.Context
	token uint64 // the controller's number of this attempt
	id    string // container
	name  string
	// since: only sandbox files born after it are candidates, so the
	// namespaces of everything already running are never read. It is a
	// little before the event that made the request: the current engine
	// creates the sandbox file before its network connect event, Debian's
	// 20.10 after it; the owner check, not the time, tells them apart.
	since time.Time
	// asked is when the event that made the request happened (zero:
	// since); the fast polling counts from it.
	asked    time.Time
	deadline time.Time
	// image is what the write must be checked against when dcfw labels
	// from the image are refused (nil: no check, see imageCheckFor).
	image *imageAnswer
}

// imageAnswer is a starting container's image and its labels, looked up
// before the search (the request goroutine) or known already.
type imageAnswer struct {
	ref    string // ID or name, as the create event or a listing has it
	labels map[string]string
	err    error
	done   bool
}

func (r sandboxRequest) describe() string {
	return "container " + engine.ShortID(r.id)
}

// sandboxResult is the finder's answer.
type sandboxResult struct {
	req sandboxRequest
	// ns is the namespace found, open; the receiver owns (closes) it.
	ns      Namespace
	file    string    // its file in the sandbox directory
	born    time.Time // when the file appeared
	foundAt time.Time
	err     error // why nothing was found (ns is nil)
}

func (r sandboxResult) close() {
	if r.ns != nil {
		r.ns.Close()
	}
}

// sandboxFinder looks for the namespaces of starting containers. It runs
// on its own goroutine and only reads (directory listings, interface
// lists); whatever it finds goes to the controller's loop, which alone
// writes. One finder serves all starting containers: each tick reads each
// new namespace once, however many containers are waiting.
type sandboxFinder struct {
	dir      SandboxDir
	hostID   netnsutil.ID
	poll     time.Duration
	requests chan sandboxRequest
	deliver  func(sandboxResult)

	// Owned by run's goroutine.
	pending []sandboxRequest
	open    map[string]openSandbox // candidate files, open while requests wait
	host    map[string]bool        // files that are the host's namespace
	// claimed holds the files already handed to the controller (by name,
	// with the time each was born, so that a name used again is a new
	// file). Kept while no request waits: a second request for the same
	// start (made at its connect event, after the one made at its create
	// event was answered) may be older than the namespace handed out, which
	// must not be found a second time.
	claimed map[string]time.Time
	// unreadable holds why a new file could not be read in the last scan
	// (not bound to a namespace yet, or for good when the sandbox
	// directory's mount does not propagate): a timeout names these.
	unreadable map[string]error
}

// openSandbox is a candidate file's namespace, open, and the file's birth.
type openSandbox struct {
	ns   Namespace
	born time.Time
}

// Polling: every poll while a request is younger than pollFastFor (a
// `docker run` starts the process 100-500 ms after the create event, and
// the namespace holds the runtime's init process tens of milliseconds
// before that), then every pollSlowFactor polls. In a burst of
// starts the engine takes seconds per container, and its processes start
// correspondingly later, so the search goes on (until the start event
// withdraws it), but more cheaply.
const (
	pollFastFor    = 2 * time.Second
	pollSlowFactor = 5
)

func newSandboxFinder(dir SandboxDir, hostID netnsutil.ID, poll time.Duration, deliver func(sandboxResult)) *sandboxFinder {
	return &sandboxFinder{
		dir:        dir,
		hostID:     hostID,
		poll:       poll,
		requests:   make(chan sandboxRequest),
		deliver:    deliver,
		open:       map[string]openSandbox{},
		host:       map[string]bool{},
		claimed:    map[string]time.Time{},
		unreadable: map[string]error{},
	}
}

// submit hands a request to the finder; false if the finder has stopped or
// the request was withdrawn meanwhile.
func (f *sandboxFinder) submit(ctx context.Context, r sandboxRequest) bool {
	select {
	case f.requests <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// run serves requests until ctx ends. While none waits it does nothing;
// while some wait it looks every poll interval (see pollFastFor).
func (f *sandboxFinder) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer func() {
		timer.Stop()
		f.closeAll()
	}()
	for {
		var tick <-chan time.Time
		if len(f.pending) > 0 {
			timer.Reset(f.interval(time.Now()))
			tick = timer.C
		} else {
			f.closeAll()
		}
		select {
		case <-ctx.Done():
			return
		case r := <-f.requests:
			f.pending = append(f.pending, r)
			f.scan(time.Now())
		case now := <-tick:
			f.scan(now)
		}
		timer.Stop()
	}
}

// interval is the time to the next look.
func (f *sandboxFinder) interval(now time.Time) time.Duration {
	for _, r := range f.pending {
		asked := r.asked
		if asked.IsZero() {
			asked = r.since
		}
		if now.Sub(asked) < pollFastFor {
			return f.poll
		}
	}
	return pollSlowFactor * f.poll
}

// closeAll closes the open namespaces when no request waits. It keeps
// claimed (see there): scan forgets a claimed file once no waiting request
// is older than the file.
func (f *sandboxFinder) closeAll() {
	for name, o := range f.open {
		o.ns.Close()
		delete(f.open, name)
	}
	clear(f.host)
	clear(f.unreadable)
}

// candidate is a new namespace as read in one scan.
type candidate struct {
	file   SandboxFile
	ns     Namespace
	owners []string // containers with a process in it
}

// scan looks once at the new namespaces and answers every request it can.
func (f *sandboxFinder) scan(now time.Time) {
	live := f.pending[:0]
	for _, r := range f.pending {
		switch {
		case r.ctx.Err() != nil:
			// Withdrawn: the controller knows and expects nothing.
		case now.After(r.deadline):
			f.deliver(sandboxResult{req: r, err: fmt.Errorf("%w (%s, searched for %s)%s",
				errSandboxTimeout, r.describe(), r.deadline.Sub(r.since).Round(time.Millisecond), f.unreadableSince(r.since))})
		default:
			live = append(live, r)
		}
	}
	f.pending = live
	if len(live) == 0 {
		return
	}

	earliest := live[0].since
	for _, r := range live[1:] {
		if r.since.Before(earliest) {
			earliest = r.since
		}
	}
	files := f.dir.Born(earliest)
	listed := make(map[string]bool, len(files))
	var cands []candidate
	for _, file := range files {
		listed[file.Name] = true
		if born, ok := f.claimed[file.Name]; f.host[file.Name] || ok && born.Equal(file.Born) {
			// The host's, or found for another container (which the
			// controller checks again): not a candidate.
			continue
		}
		o, ok := f.open[file.Name]
		if ok && !o.born.Equal(file.Born) {
			// The name was used again: another namespace.
			o.ns.Close()
			ok = false
		}
		if !ok {
			ns, err := f.dir.Open(file.Name)
			if err != nil {
				// Not bound to a namespace yet, or gone: look again
				// next tick.
				f.unreadable[file.Name] = err
				delete(f.open, file.Name)
				continue
			}
			if ns.ID() == f.hostID {
				// The host's namespace (Docker's "default" file for
				// host-network containers): never a container's.
				ns.Close()
				f.host[file.Name] = true
				delete(f.open, file.Name)
				continue
			}
			o = openSandbox{ns: ns, born: file.Born}
			f.open[file.Name] = o
		}
		cands = append(cands, candidate{file: file, ns: o.ns})
	}
	if len(cands) > 0 {
		ids := make([]netnsutil.ID, len(cands))
		for i, c := range cands {
			ids[i] = c.ns.ID()
		}
		owners, err := f.dir.Owners(ids)
		for i, c := range cands {
			if err != nil {
				f.unreadable[c.file.Name] = err
				continue
			}
			delete(f.unreadable, c.file.Name)
			cands[i].owners = owners[c.ns.ID()]
		}
	}
	for name, o := range f.open {
		if !listed[name] {
			o.ns.Close()
			delete(f.open, name)
		}
	}
	for name := range f.claimed {
		if !listed[name] {
			delete(f.claimed, name)
		}
	}
	for name := range f.unreadable {
		if !listed[name] {
			delete(f.unreadable, name)
		}
	}

	// Which new namespaces hold a process of each request's container,
	// and which requests claim each namespace.
	matches := make([][]int, len(live))
	claims := map[int][]int{}
	for i, r := range live {
		for j, c := range cands {
			if c.file.Born.After(r.since) && slices.Contains(c.owners, r.id) {
				matches[i] = append(matches[i], j)
				claims[j] = append(claims[j], i)
			}
		}
	}

	var still []sandboxRequest
	for i, r := range live {
		m := matches[i]
		switch {
		case len(m) == 0:
			still = append(still, r)
		case len(m) > 1:
			names := make([]string, len(m))
			for k, j := range m {
				names[k] = cands[j].file.Name
			}
			f.deliver(sandboxResult{req: r, err: fmt.Errorf("%w: %s is in %d new namespaces (%s)",
				errSandboxAmbiguous, r.describe(), len(m), strings.Join(names, ", "))})
		case len(claims[m[0]]) > 1:
			// Processes of two starting containers in one new namespace.
			f.deliver(sandboxResult{req: r, err: fmt.Errorf("%w: another starting container has a process in the same namespace",
				errSandboxAmbiguous)})
		default:
			c := cands[m[0]]
			// Ownership passes to the controller.
			delete(f.open, c.file.Name)
			f.claimed[c.file.Name] = c.file.Born
			f.deliver(sandboxResult{req: r, ns: c.ns, file: c.file.Name, born: c.file.Born, foundAt: time.Now()})
		}
	}
	f.pending = still
}

// unreadableSince describes the files born after since that the last scan
// could not read ("" if none), for a timeout's reason: a sandbox directory
// whose mount does not propagate shows every new file this way.
func (f *sandboxFinder) unreadableSince(since time.Time) string {
	files := f.dir.Born(since)
	var parts []string
	for _, file := range files {
		if err, ok := f.unreadable[file.Name]; ok {
			parts = append(parts, fmt.Sprintf("%s (%v)", file.Name, err))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	const most = 3
	more := ""
	if len(parts) > most {
		more = fmt.Sprintf(" and %d more", len(parts)-most)
		parts = parts[:most]
	}
	return "; new sandbox files that could not be read: " + strings.Join(parts, ", ") + more
}
