// Package enginetest is an in-memory container engine for tests of code
// that consumes package engine's types: containers and images are put in
// by the test, events are emitted by the test, and failures and hangs can
// be injected.
package enginetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dcfw/dcfw/engine"
)

// Engine is an in-memory container engine: containers are added and
// removed by the test, events are sent by the test, and failures can be
// injected. It is safe for concurrent use.
type Engine struct {
	mu         sync.Mutex
	containers map[string]*Container
	images     map[string]map[string]string // by ID and by name
	order      []string                     // creation order, newest last
	inspects   map[string]int
	lists      int

	listErr      error
	subscribeErr error
	calls        []string
	// blocked, while not nil, holds every call until it is closed or the
	// call's context ends: an engine that hangs.
	blocked        chan struct{}
	blockAfterList bool

	subscriptions int
	stream        *fakeStream
}

// Container is a container in an Engine.
type Container struct {
	ID          string
	Name        string
	Labels      map[string]string
	NetworkMode engine.NetworkMode
	PID         int
	SandboxKey  string
	// ImageID and Image are its image's ID and name (see PutImage).
	ImageID string
	Image   string
	// Networks are its addresses by network name, as listed; DNS the
	// nameservers it was given, as inspect reports them.
	Networks map[string][]netip.Addr
	DNS      []netip.Addr
	// Its own privileges, as inspect reports them.
	Privileged bool
	CapAdd     []string
	CapDrop    []string
	// Running is whether the container is listed. A listed container
	// that Exited is not running any more when inspected; one that
	// Vanished answers 404: it stopped, or was removed, between the list
	// and the inspect.
	Running  bool
	Exited   bool
	Vanished bool
}

type fakeStream struct {
	c    chan engine.Event
	err  chan error
	done bool
}

// New returns an engine without containers.
func New() *Engine {
	return &Engine{
		containers: map[string]*Container{},
		images:     map[string]map[string]string{},
		inspects:   map[string]int{},
	}
}

// Put adds or replaces a container (a copy of c is stored).
func (d *Engine) Put(c Container) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.NetworkMode == "" {
		c.NetworkMode = "default"
	}
	if _, ok := d.containers[c.ID]; !ok {
		d.order = append(d.order, c.ID)
	}
	cp := c
	cp.Labels = maps.Clone(c.Labels)
	cp.Networks = maps.Clone(c.Networks)
	d.containers[c.ID] = &cp
}

// PutImage adds an image with its labels, found by its ID and by each of
// its names.
func (d *Engine) PutImage(id string, lbls map[string]string, names ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range append([]string{id}, names...) {
		d.images[k] = maps.Clone(lbls)
	}
}

// ImageLabels answers as moby.Client does.
func (d *Engine) ImageLabels(ctx context.Context, image string) (map[string]string, error) {
	if err := d.wait(ctx, "image "+image); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "image "+image)
	l, ok := d.images[image]
	if !ok {
		return nil, fmt.Errorf("inspect image %s: %w", image, engine.ErrImageGone)
	}
	return maps.Clone(l), nil
}

// ImageCalls returns how many image inspects were made.
func (d *Engine) ImageCalls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		if strings.HasPrefix(c, "image ") {
			n++
		}
	}
	return n
}

// Update changes a stored container in place.
func (d *Engine) Update(id string, f func(*Container)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.containers[id]; ok {
		f(c)
	}
}

// Delete removes a container.
func (d *Engine) Delete(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.containers, id)
	d.order = slices.DeleteFunc(d.order, func(s string) bool { return s == id })
}

// FailList makes ListRunning fail with err (nil: succeed again).
func (d *Engine) FailList(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.listErr = err
}

// FailSubscribe makes Subscribe fail with err (nil: succeed again), as an
// engine that is down does.
func (d *Engine) FailSubscribe(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.subscribeErr = err
}

// Block makes every call hang until Unblock or the end of its context, as
// an engine that accepts connections but does not answer.
func (d *Engine) Block() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.blocked == nil {
		d.blocked = make(chan struct{})
	}
}

// BlockAfterList makes the engine hang after it has answered the next
// list call, as one that stops answering in the middle of a cycle.
func (d *Engine) BlockAfterList() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.blockAfterList = true
}

// Unblock lets the calls through again.
func (d *Engine) Unblock() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.blocked != nil {
		close(d.blocked)
		d.blocked = nil
	}
}

// wait holds a call while the engine is blocked.
func (d *Engine) wait(ctx context.Context, call string) error {
	d.mu.Lock()
	ch := d.blocked
	if ch != nil {
		d.calls = append(d.calls, call+" (blocked)")
	}
	d.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fake engine %s: %w", call, ctx.Err())
	}
}

// Calls returns the engine calls so far, in order: "list", "inspect <id>",
// "subscribe", "image <id or name>".
func (d *Engine) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.calls...)
}

// Inspects returns how often the container was inspected.
func (d *Engine) Inspects(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inspects[id]
}

// Lists returns how often containers were listed.
func (d *Engine) Lists() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lists
}

// Subscriptions returns how many event subscriptions were opened.
func (d *Engine) Subscriptions() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.subscriptions
}

// ListRunning answers as moby.Client does: containers with Running set, newest first
// (the engine's order).
func (d *Engine) ListRunning(ctx context.Context) ([]engine.Container, error) {
	if err := d.wait(ctx, "list"); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lists++
	d.calls = append(d.calls, "list")
	if d.blockAfterList && d.blocked == nil {
		d.blocked = make(chan struct{})
	}
	d.blockAfterList = false
	if d.listErr != nil {
		return nil, d.listErr
	}
	var out []engine.Container
	for i := len(d.order) - 1; i >= 0; i-- {
		c := d.containers[d.order[i]]
		if !c.Running {
			continue
		}
		out = append(out, engine.Container{ID: c.ID, Names: []string{c.Name}, Labels: maps.Clone(c.Labels), NetworkMode: c.NetworkMode,
			ImageID: c.ImageID, Image: c.Image, Networks: maps.Clone(c.Networks)})
	}
	return out, nil
}

// Inspect answers as moby.Client does.
func (d *Engine) Inspect(ctx context.Context, id string) (engine.ContainerInfo, error) {
	if err := d.wait(ctx, "inspect "+id); err != nil {
		return engine.ContainerInfo{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inspects[id]++
	d.calls = append(d.calls, "inspect "+id)
	c, ok := d.containers[id]
	if !ok || c.Vanished {
		return engine.ContainerInfo{}, fmt.Errorf("inspect %s: %w", engine.ShortID(id), engine.ErrContainerGone)
	}
	running := c.Running && !c.Exited
	info := engine.ContainerInfo{ID: c.ID, Name: c.Name, Running: running, NetworkMode: c.NetworkMode, SandboxKey: c.SandboxKey,
		Privileged: c.Privileged, CapAdd: slices.Clone(c.CapAdd), CapDrop: slices.Clone(c.CapDrop), DNS: slices.Clone(c.DNS)}
	if running {
		info.PID = c.PID
	}
	return info, nil
}

// Subscribe answers as moby.Client does. Only the latest stream receives events.
func (d *Engine) Subscribe(ctx context.Context, since time.Time) (*engine.EventStream, error) {
	if err := d.wait(ctx, "subscribe"); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "subscribe")
	if d.subscribeErr != nil {
		return nil, d.subscribeErr
	}
	s := &fakeStream{c: make(chan engine.Event, 64), err: make(chan error, 1)}
	d.stream = s
	d.subscriptions++
	go func() {
		<-ctx.Done()
		d.mu.Lock()
		defer d.mu.Unlock()
		s.end(ctx.Err())
	}()
	return &engine.EventStream{C: s.c, Err: s.err}, nil
}

func (s *fakeStream) end(err error) {
	if s.done {
		return
	}
	s.done = true
	s.err <- err
	close(s.c)
}

// Emit sends an event on the current stream. It fails if none is open.
func (d *Engine) Emit(ev engine.Event) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stream == nil || d.stream.done {
		return errors.New("fake engine: no open event stream")
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	d.stream.c <- ev
	return nil
}

// BreakStream ends the current stream with err, as an engine restart does.
func (d *Engine) BreakStream(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stream != nil {
		d.stream.end(err)
	}
}
