package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/sandbox"
	"github.com/dcfw/dcfw/sandbox/sandboxtest"
)

// hostNS is the host's namespace identity in these tests.
var hostNS = netnsutil.ID{Dev: 4, Ino: 4026531840}

// finderUnderTest is a finder over an empty in-memory directory, driven by
// hand (Add, Scan), whose answers are appended to got. When the test ends
// it closes what it holds, and nothing may be left open (the test closes
// the namespaces it was handed).
type finderUnderTest struct {
	*sandbox.Finder
	dir *sandboxtest.Dir
	got []answer
}

// answer is one Result, with the container whose request it answers.
type answer struct {
	container string
	sandbox.Result
}

func newFinderUnderTest(t *testing.T, poll time.Duration) *finderUnderTest {
	dir := sandboxtest.New()
	f := &finderUnderTest{Finder: sandbox.NewIdleFinder(dir, hostNS, poll), dir: dir}
	t.Cleanup(func() {
		f.CloseAll()
		if n := dir.OpenCount(); n != 0 {
			t.Errorf("%d namespaces left open", n)
		}
	})
	return f
}

// ask makes a request for container id wait, answered into f.got.
func (f *finderUnderTest) ask(id string, since, asked, deadline time.Time) {
	f.Add(context.Background(), sandbox.Request{Container: id, Since: since, Asked: asked, Deadline: deadline,
		Answer: func(r sandbox.Result) { f.got = append(f.got, answer{container: id, Result: r}) }})
}

// TestSandboxFinderReadsEachNamespaceOncePerTick: however many
// containers wait, one tick reads each new namespace once.
func TestFinderReadsEachNamespaceOncePerTick(t *testing.T) {
	const poll = 5 * time.Millisecond
	f := newFinderUnderTest(t, poll)
	dir := f.dir
	since := time.Now()
	for i := range 5 {
		dir.Add(fmt.Sprintf("f%d", i), since.Add(time.Millisecond), netnsutil.ID{Dev: 4, Ino: uint64(100 + i)})
		f.ask(fmt.Sprint(i), since, time.Time{}, since.Add(time.Hour))
	}
	f.Scan(time.Now())
	if dir.Reads() != 5 || len(f.got) != 0 {
		t.Errorf("reads %d, results %v", dir.Reads(), f.got)
	}
	dir.Enter("f3", "3")
	f.Scan(time.Now())
	got := f.got
	if len(got) != 1 || got[0].container != "3" || got[0].File != "f3" || got[0].NS == nil || got[0].Err != nil {
		t.Fatalf("results %+v", got)
	}
	if w := f.Waiting(); len(w) != 4 || slices.Contains(w, "3") {
		t.Errorf("waiting %v", w)
	}
	// The namespace handed over is no candidate for the others any more.
	reads := dir.Reads()
	f.Scan(time.Now())
	if n := dir.Reads() - reads; n != 4 {
		t.Errorf("%d namespaces read after one was claimed, want 4", n)
	}
	// Young requests are looked for every poll, older ones less often.
	if d := f.Interval(since.Add(time.Second)); d != poll {
		t.Errorf("interval for young requests %s", d)
	}
	if d := f.Interval(since.Add(sandbox.PollFastFor + time.Second)); d != sandbox.PollSlowFactor*poll {
		t.Errorf("interval for old requests %s", d)
	}
	got[0].Close()
}

func TestFinderOnlyConsidersNamespacesNewerThanEachRequest(t *testing.T) {
	f := newFinderUnderTest(t, time.Hour)
	dir := f.dir
	t0 := time.Now()
	// Born after a's request but before b's: a namespace b cannot own,
	// even with b's process inside (what runs there was there before).
	dir.Add("f", t0.Add(time.Millisecond), netnsutil.ID{Dev: 4, Ino: 99})
	dir.Enter("f", "b")
	f.ask("a", t0, time.Time{}, t0.Add(time.Hour))
	f.ask("b", t0.Add(2*time.Millisecond), time.Time{}, t0.Add(time.Hour))
	f.Scan(time.Now())
	if len(f.got) != 0 || len(f.Waiting()) != 2 {
		t.Errorf("results %+v", f.got)
	}
	// A new namespace with a process of a container no one asked for
	// answers no request.
	dir.Add("g", t0.Add(3*time.Millisecond), netnsutil.ID{Dev: 4, Ino: 98})
	dir.Enter("g", "x")
	f.Scan(time.Now())
	if len(f.got) != 0 {
		t.Errorf("results %+v", f.got)
	}
}

// A request that times out names the new files that could not be read:
// with a sandbox directory whose mount does not propagate, every new file
// stays an empty file, and the reason must say so rather than look like
// plain slowness.
func TestFinderTimeoutNamesUnreadableFiles(t *testing.T) {
	f := newFinderUnderTest(t, time.Hour)
	dir := f.dir
	t0 := time.Now()
	dir.AddUnmounted("old", t0.Add(-time.Second)) // before the connect: not named
	dir.AddUnmounted("f1", t0.Add(time.Millisecond))
	f.ask("a", t0, time.Time{}, t0.Add(time.Second))
	f.Scan(t0.Add(10 * time.Millisecond))
	f.Scan(t0.Add(2 * time.Second))
	if len(f.got) != 1 || !errors.Is(f.got[0].Err, sandbox.ErrTimeout) {
		t.Fatalf("results %+v, want one timeout", f.got)
	}
	msg := f.got[0].Err.Error()
	if !strings.Contains(msg, "f1 (") || !strings.Contains(msg, netnsutil.ErrNotNetNS.Error()) || strings.Contains(msg, "old") {
		t.Errorf("timeout %q, want f1 named with why it could not be read, and nothing older", msg)
	}
	// A file read fine later is not named any more.
	dir.Mount("f1", netnsutil.ID{Dev: 4, Ino: 71})
	f.ask("b", t0, time.Time{}, t0.Add(time.Second))
	f.Scan(t0.Add(10 * time.Millisecond))
	f.Scan(t0.Add(2 * time.Second))
	if len(f.got) != 2 || strings.Contains(f.got[1].Err.Error(), "could not be read") {
		t.Errorf("results %+v, want a plain timeout", f.got)
	}
}

// A namespace handed out stays claimed while no request waits: a request
// for the same container that arrives afterwards but is older than the
// namespace (made at its connect event, after the one made at its create
// event was answered) must not get it a second time.
func TestFinderClaimOutlivesAnIdleFinder(t *testing.T) {
	f := newFinderUnderTest(t, time.Hour)
	dir := f.dir
	t0 := time.Now()
	dir.Add("f", t0.Add(2*time.Millisecond), netnsutil.ID{Dev: 4, Ino: 99})
	dir.Enter("f", "a")
	f.ask("a", t0.Add(time.Millisecond), time.Time{}, t0.Add(time.Hour))
	f.Scan(time.Now())
	if len(f.got) != 1 || f.got[0].container != "a" || f.got[0].NS == nil {
		t.Fatalf("results %+v", f.got)
	}
	f.got[0].Close()
	f.CloseAll() // nothing waits: what run does between requests
	f.ask("a", t0, time.Time{}, t0.Add(time.Hour))
	f.Scan(time.Now())
	if len(f.got) != 1 {
		t.Fatalf("the namespace handed out was found again: %+v", f.got[1:])
	}
	// The same name used again by a new file is a new candidate.
	replaceAndScan := func(name string, born time.Time, ino uint64, want string) {
		t.Helper()
		dir.Remove(name)
		dir.Add(name, born, netnsutil.ID{Dev: 4, Ino: ino})
		dir.Enter(name, want)
		n := len(f.got)
		f.Scan(time.Now())
		if len(f.got) != n+1 || f.got[n].container != want || f.got[n].NS == nil || f.got[n].NS.ID().Ino != ino {
			t.Fatalf("results %+v, want %s's request answered with namespace %d", f.got[n:], want, ino)
		}
		f.got[n].Close()
	}
	replaceAndScan("f", t0.Add(3*time.Millisecond), 100, "a")
	// So is a file replaced under the same name while it was open as a
	// candidate: its namespace is read anew, the old one closed.
	f.ask("c", t0, time.Time{}, t0.Add(time.Hour))
	dir.Add("g", t0.Add(4*time.Millisecond), netnsutil.ID{Dev: 4, Ino: 200})
	f.Scan(time.Now())
	replaceAndScan("g", t0.Add(5*time.Millisecond), 201, "c")
}

// A request made at its event is looked for every poll for a while,
// although it considers files born a while (the controller's slack)
// before the event.
func TestFinderPollsARequestFastFromItsEvent(t *testing.T) {
	const poll = 5 * time.Millisecond
	f := newFinderUnderTest(t, poll)
	at := time.Now()
	f.ask("a", at.Add(-2*time.Second), at, at.Add(time.Minute))
	if d := f.Interval(at.Add(100 * time.Millisecond)); d != poll {
		t.Errorf("interval right after the event %s, want %s", d, poll)
	}
	if d := f.Interval(at.Add(sandbox.PollFastFor + time.Second)); d != sandbox.PollSlowFactor*poll {
		t.Errorf("interval long after the event %s", d)
	}
}
