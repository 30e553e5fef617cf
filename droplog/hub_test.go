package droplog

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nflog"
	"github.com/dcfw/dcfw/nft"
)

// fakeOpener opens fake namespaces and remembers them by fd.
type fakeOpener struct {
	opened map[int]*fakeNamespace
	fail   error
}

func (o *fakeOpener) open(fd int, _ uint16, _ func() time.Time) (namespace, error) {
	if o.fail != nil {
		return nil, o.fail
	}
	ns := newFakeNamespace()
	o.opened[fd] = ns
	return ns, nil
}

func newTestHub(t *testing.T) (*Hub, *fakeOpener) {
	t.Helper()
	o := &fakeOpener{opened: map[int]*fakeNamespace{}}
	h := NewHub(zap.NewNop(), Config{})
	h.open = o.open
	t.Cleanup(h.Close)
	return h, o
}

func TestHubWatchOpensOncePerNamespace(t *testing.T) {
	h, o := newTestHub(t)
	a, b := netnsutil.ID{Dev: 4, Ino: 100}, netnsutil.ID{Dev: 4, Ino: 200}
	if err := h.Watch(a, 10, testContainer, testRules); err != nil {
		t.Fatal(err)
	}
	// The same namespace again (a changed table): no second socket.
	if err := h.Watch(a, 11, Container{Name: "web", ID: "x"}, nft.LogRules{}); err != nil {
		t.Fatal(err)
	}
	if err := h.Watch(b, 12, testContainer, testRules); err != nil {
		t.Fatal(err)
	}
	if len(o.opened) != 2 || o.opened[11] != nil || h.Watching() != 2 {
		t.Fatalf("opened %v, watching %d; want fds 10 and 12", o.opened, h.Watching())
	}
	if n, ok := h.Blocked(a); !ok || n != 0 {
		t.Errorf("Blocked(a) = %d, %v", n, ok)
	}
	o.opened[12].send(t, nflog.Record{Prefix: "dcfw.input.policy", Payload: payload(t, tcp4SYN)})
	o.opened[12].send(t) // the record has been handled once this is taken
	if all := h.BlockedAll(); len(all) != 2 || all[a] != 0 || all[b] != 1 {
		t.Errorf("BlockedAll() = %v, want a: 0, b: 1", all)
	}

	h.Forget(a)
	if !o.opened[10].isClosed() || o.opened[12].isClosed() {
		t.Error("Forget(a) closed the wrong namespace")
	}
	if _, ok := h.Blocked(a); ok {
		t.Error("a still watched after Forget")
	}
	h.Forget(a) // twice: nothing to do

	// Retain releases what the controller no longer manages.
	c := netnsutil.ID{Dev: 4, Ino: 300}
	if err := h.Watch(c, 13, testContainer, testRules); err != nil {
		t.Fatal(err)
	}
	h.Retain(func(id netnsutil.ID) bool { return id == c })
	if !o.opened[12].isClosed() || o.opened[13].isClosed() || h.Watching() != 1 {
		t.Errorf("after Retain(c): b closed %v, c closed %v, watching %d", o.opened[12].isClosed(), o.opened[13].isClosed(), h.Watching())
	}

	h.Close()
	if !o.opened[13].isClosed() {
		t.Error("Close left a namespace open")
	}
	if err := h.Watch(a, 14, testContainer, testRules); !errors.Is(err, ErrHubClosed) {
		t.Errorf("Watch after Close: %v, want ErrHubClosed", err)
	}
}

func TestHubWatchFailureIsReturnedAndRetried(t *testing.T) {
	h, o := newTestHub(t)
	id := netnsutil.ID{Dev: 4, Ino: 100}
	o.fail = nflog.ErrGroupBusy
	if err := h.Watch(id, 10, testContainer, testRules); !errors.Is(err, nflog.ErrGroupBusy) {
		t.Fatalf("Watch: %v, want ErrGroupBusy", err)
	}
	if h.Watching() != 0 {
		t.Fatal("a failed Watch left a reader")
	}
	o.fail = nil
	if err := h.Watch(id, 10, testContainer, testRules); err != nil || h.Watching() != 1 {
		t.Fatalf("second Watch: %v, watching %d", err, h.Watching())
	}
}

func TestHubGroup(t *testing.T) {
	if g := NewHub(zap.NewNop(), Config{}).Group(); g != DefaultGroup {
		t.Errorf("default group %d", g)
	}
	if g := NewHub(zap.NewNop(), Config{Group: 9}).Group(); g != 9 {
		t.Errorf("group %d, want 9", g)
	}
}

// A Reader whose socket failed is replaced by the next Watch.
func TestHubWatchReplacesAStoppedReader(t *testing.T) {
	h, o := newTestHub(t)
	id := netnsutil.ID{Dev: 4, Ino: 100}
	if err := h.Watch(id, 10, testContainer, testRules); err != nil {
		t.Fatal(err)
	}
	first := o.opened[10]
	select {
	case first.errs <- errFakeClosed:
	case <-time.After(time.Second):
		t.Fatal("reader did not receive")
	}
	h.mu.Lock()
	r := h.readers[id]
	h.mu.Unlock()
	select {
	case <-r.Stopped():
	case <-time.After(time.Second):
		t.Fatal("reader did not stop on the error")
	}
	if err := h.Watch(id, 11, testContainer, testRules); err != nil {
		t.Fatal(err)
	}
	if o.opened[11] == nil || !first.isClosed() || h.Watching() != 1 {
		t.Errorf("stopped reader not replaced: opened %v, first closed %v", o.opened, first.isClosed())
	}
}

// TestHubFlushesSummaries: the Hub's one ticker writes a Reader's summary
// once the minute that held lines back is over, though no record follows.
func TestHubFlushesSummaries(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	core, logs := observer.New(zapcore.InfoLevel)
	o := &fakeOpener{opened: map[int]*fakeNamespace{}}
	h := NewHub(zap.New(core), Config{PerMinute: 1, Now: clock.now})
	h.open = o.open
	t.Cleanup(h.Close)
	id := netnsutil.ID{Dev: 4, Ino: 100}
	if err := h.Watch(id, 10, testContainer, testRules); err != nil {
		t.Fatal(err)
	}
	rec := nflog.Record{Prefix: "dcfw.input.policy", Payload: payload(t, tcp4SYN)}
	o.opened[10].send(t, rec, rec)
	o.opened[10].send(t) // both handled: one line, one held back
	clock.advance(2 * time.Minute)
	deadline := time.Now().Add(3 * summaryEvery)
	for logs.FilterMessage(msgSuppressed).Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no summary line within %s of the minute's end; logs: %v", 3*summaryEvery, logs.All())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
