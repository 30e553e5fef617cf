package sandbox

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

// The finder's reasons when it does not find a namespace (Result.Err
// matches one of them).
var (
	ErrTimeout   = errors.New("no new sandbox namespace held a process of the container in time")
	ErrAmbiguous = errors.New("the container's namespace cannot be told apart")
)

// Request asks for the namespace of one starting container: the one new
// sandbox namespace that holds a process of the container (by its cgroup),
// which the runtime's init process is from the moment it enters the
// namespace, before the workload's first instruction.
type Request struct {
	Container string // its ID
	// Since: only sandbox files born after it are candidates, so the
	// namespaces of everything already running are never read. It is a
	// little before the event that made the request: the current engine
	// creates the sandbox file before its network connect event, Debian's
	// 20.10 after it; the owner check, not the time, tells them apart.
	Since time.Time
	// Asked is when the event that made the request happened (zero:
	// Since); the fast polling counts from it.
	Asked time.Time
	// Deadline is on the clock given to Start.
	Deadline time.Time
	// Answer receives the Result, once, on the finder's goroutine; it
	// must not block. No answer comes once the request is withdrawn.
	Answer func(Result)
}

func (r Request) describe() string {
	return "container " + engine.ShortID(r.Container)
}

// Result is the finder's answer: a namespace, or why there is none.
type Result struct {
	// NS is the namespace found, open; the receiver owns (closes) it.
	NS      Namespace
	File    string    // its file in the sandbox directory
	Born    time.Time // when the file appeared
	FoundAt time.Time
	Err     error // why nothing was found (NS is nil): ErrTimeout, ErrAmbiguous
}

// Close closes the namespace found, if any.
func (r Result) Close() {
	if r.NS != nil {
		r.NS.Close()
	}
}

// pendingRequest is a request with the context that withdraws it.
type pendingRequest struct {
	ctx context.Context
	Request
}

// Finder looks for the namespaces of starting containers. It runs on its
// own goroutine and only reads (directory listings, procfs); whatever it
// finds goes to the requests' Answer, and the receiver alone writes. One
// finder serves all starting containers: each tick reads each new
// namespace once, however many containers are waiting.
type Finder struct {
	dir      Dir
	poll     time.Duration
	requests chan pendingRequest
	// Set by Start.
	hostID netnsutil.ID
	now    func() time.Time
	done   chan struct{}

	// Owned by run's goroutine.
	pending   []pendingRequest
	open      map[string]openSandbox // candidate files, open while requests wait
	hostFiles map[string]bool        // files that are the host's namespace
	// claimed holds the files already handed to a receiver (by name,
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

// DefaultPoll is how often the namespaces are looked at while a search
// runs: the interface is in place some 40-100 ms before the process
// starts.
const DefaultPoll = 5 * time.Millisecond

// NewFinder returns a finder of the namespaces in dir that looks every
// poll while requests wait (see pollFastFor). It does nothing until Start.
func NewFinder(dir Dir, poll time.Duration) *Finder {
	return &Finder{
		dir:        dir,
		poll:       poll,
		requests:   make(chan pendingRequest),
		now:        time.Now,
		open:       map[string]openSandbox{},
		hostFiles:  map[string]bool{},
		claimed:    map[string]time.Time{},
		unreadable: map[string]error{},
	}
}

// Start watches the directory and serves requests on a goroutine of its
// own until ctx ends. host, the host's namespace, is never an answer; now
// is the clock of the requests' deadlines (nil: time.Now). An error means
// the directory cannot be watched: the finder does not run.
func (f *Finder) Start(ctx context.Context, host netnsutil.ID, now func() time.Time) error {
	if err := f.dir.Watch(ctx); err != nil {
		return err
	}
	f.hostID = host
	if now != nil {
		f.now = now
	}
	f.done = make(chan struct{})
	go func() {
		defer close(f.done)
		f.run(ctx)
	}()
	return nil
}

// Wait waits until the goroutine Start began has ended (its ctx ended) and
// has closed every namespace it held. Answers already given stay the
// receivers'.
func (f *Finder) Wait() {
	if f.done != nil {
		<-f.done
	}
}

// Submit hands a request to the finder until ctx ends, which withdraws it;
// false if the finder has stopped or the request was withdrawn meanwhile.
func (f *Finder) Submit(ctx context.Context, r Request) bool {
	select {
	case f.requests <- pendingRequest{ctx: ctx, Request: r}:
		return true
	case <-ctx.Done():
		return false
	}
}

// Removed reports whether the sandbox file no longer binds namespace id
// (Docker removed it, or the name now holds another namespace); false when
// that cannot be told.
func (f *Finder) Removed(file string, id netnsutil.ID) bool {
	if file == "" {
		return false
	}
	ns, err := f.dir.Open(file)
	if err != nil {
		return errors.Is(err, netnsutil.ErrNotFound) || errors.Is(err, netnsutil.ErrNotNetNS)
	}
	defer ns.Close()
	return ns.ID() != id
}

// run serves requests until ctx ends. While none waits it does nothing;
// while some wait it looks every poll interval (see pollFastFor).
func (f *Finder) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer func() {
		timer.Stop()
		f.closeAll()
	}()
	for {
		var tick <-chan time.Time
		if len(f.pending) > 0 {
			// The wall clock: Asked is an engine stamp.
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
			f.scan(f.now())
		case <-tick:
			f.scan(f.now())
		}
		timer.Stop()
	}
}

// interval is the time to the next look.
func (f *Finder) interval(now time.Time) time.Duration {
	for _, r := range f.pending {
		asked := r.Asked
		if asked.IsZero() {
			asked = r.Since
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
func (f *Finder) closeAll() {
	for name, o := range f.open {
		o.ns.Close()
		delete(f.open, name)
	}
	clear(f.hostFiles)
	clear(f.unreadable)
}

// candidate is a new namespace as read in one scan.
type candidate struct {
	file   File
	ns     Namespace
	owners []string // containers with a process in it
}

// scan looks once at the new namespaces and answers every request it can;
// now is on the deadlines' clock.
func (f *Finder) scan(now time.Time) {
	live := f.pending[:0]
	for _, r := range f.pending {
		switch {
		case r.ctx.Err() != nil:
			// Withdrawn: the requester knows and expects nothing.
		case now.After(r.Deadline):
			r.Answer(Result{Err: fmt.Errorf("%w (%s, searched for %s)%s",
				ErrTimeout, r.describe(), r.Deadline.Sub(r.Since).Round(time.Millisecond), f.unreadableSince(r.Since))})
		default:
			live = append(live, r)
		}
	}
	f.pending = live
	if len(live) == 0 {
		return
	}

	earliest := live[0].Since
	for _, r := range live[1:] {
		if r.Since.Before(earliest) {
			earliest = r.Since
		}
	}
	files := f.dir.Born(earliest)
	listed := make(map[string]bool, len(files))
	var cands []candidate
	for _, file := range files {
		listed[file.Name] = true
		if born, ok := f.claimed[file.Name]; f.hostFiles[file.Name] || ok && born.Equal(file.Born) {
			// The host's, or found for another container (which the
			// receiver checks again): not a candidate.
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
				f.hostFiles[file.Name] = true
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
			if c.file.Born.After(r.Since) && slices.Contains(c.owners, r.Container) {
				matches[i] = append(matches[i], j)
				claims[j] = append(claims[j], i)
			}
		}
	}

	var still []pendingRequest
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
			r.Answer(Result{Err: fmt.Errorf("%w: %s is in %d new namespaces (%s)",
				ErrAmbiguous, r.describe(), len(m), strings.Join(names, ", "))})
		case len(claims[m[0]]) > 1:
			// Processes of two starting containers in one new namespace.
			r.Answer(Result{Err: fmt.Errorf("%w: another starting container has a process in the same namespace",
				ErrAmbiguous)})
		default:
			c := cands[m[0]]
			// Ownership passes to the receiver. FoundAt is on the wall
			// clock, like Born and the engine's event stamps it is
			// compared with.
			delete(f.open, c.file.Name)
			f.claimed[c.file.Name] = c.file.Born
			r.Answer(Result{NS: c.ns, File: c.file.Name, Born: c.file.Born, FoundAt: time.Now()})
		}
	}
	f.pending = still
}

// unreadableSince describes the files born after since that the last scan
// could not read ("" if none), for a timeout's reason: a sandbox directory
// whose mount does not propagate shows every new file this way.
func (f *Finder) unreadableSince(since time.Time) string {
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
