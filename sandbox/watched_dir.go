package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/netnsutil"
)

// WatchedDir is the real Dir: inotify on the directory notes
// when each file is created; where inotify is unavailable, the directory
// is listed every PollInterval instead. Owners come from procfs
// (netnsutil.ProcTable).
type WatchedDir struct {
	Dir string
	// Procs finds the containers in a namespace (the host's /proc).
	Procs *netnsutil.ProcTable
	// PollInterval is how often the directory is listed when inotify
	// cannot be used (default 20ms: a listing of a tmpfs directory costs
	// microseconds, and a file must be noticed well within the ~150 ms
	// between a connect event and its sandbox file).
	PollInterval time.Duration

	mu   sync.Mutex
	born map[string]time.Time // zero: present before watching, or age unknown
	poll bool                 // no inotify: Born lists the directory itself
	// listFailed: the last listing failed for another reason than a
	// missing directory, so files found next may be old.
	listFailed bool
}

var _ Dir = (*WatchedDir)(nil)

// NewWatchedDir returns the sandbox directory at dir (dcfw's --netns-dir),
// whose owners are found in procDir (dcfw's --proc-dir).
func NewWatchedDir(dir, procDir string) *WatchedDir {
	return &WatchedDir{Dir: dir, Procs: netnsutil.NewProcTable(procDir)}
}

// inotifyMask: files created or moved in, removed or moved out, and the
// directory itself going away.
const inotifyMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_DELETE | unix.IN_MOVED_FROM |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// Watch implements Dir.
func (d *WatchedDir) Watch(ctx context.Context) error {
	if d.PollInterval <= 0 {
		d.PollInterval = 20 * time.Millisecond
	}
	d.mu.Lock()
	d.born = map[string]time.Time{}
	d.mu.Unlock()

	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err == nil {
		if _, werr := unix.InotifyAddWatch(fd, d.Dir, inotifyMask); werr != nil {
			unix.Close(fd)
			fd, err = -1, werr
		}
	}
	// The listing comes after the watch is in place: a file created in
	// between is both listed (old) and reported (new); listed wins below,
	// which errs on the side of not using it.
	names, lerr := d.list()
	if lerr != nil && !errors.Is(lerr, os.ErrNotExist) {
		if fd >= 0 {
			unix.Close(fd)
		}
		return fmt.Errorf("sandbox directory %s: %w", d.Dir, lerr)
	}
	d.mu.Lock()
	for _, n := range names {
		d.born[n] = time.Time{}
	}
	d.mu.Unlock()

	if err != nil {
		// No inotify (too many instances, or the directory does not exist
		// yet because no container ever ran): poll the directory.
		d.mu.Lock()
		d.poll = true
		d.mu.Unlock()
		go d.pollLoop(ctx)
		return nil
	}
	f := os.NewFile(uintptr(fd), "inotify:"+d.Dir)
	go func() {
		<-ctx.Done()
		f.Close() // unblocks the reader
	}()
	go d.readLoop(ctx, f)
	return nil
}

// list returns the names in the directory.
func (d *WatchedDir) list() ([]string, error) {
	entries, err := os.ReadDir(d.Dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// refresh lists the directory and notes new files as born now. Files that
// vanished are forgotten.
func (d *WatchedDir) refresh() {
	names, err := d.list()
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		// A missing directory holds no old files: whatever appears in it
		// later is new. Any other failure hides what is there.
		d.listFailed = !errors.Is(err, os.ErrNotExist)
		return
	}
	present := make(map[string]bool, len(names))
	for _, n := range names {
		present[n] = true
		if _, ok := d.born[n]; !ok {
			if d.listFailed {
				d.born[n] = time.Time{} // unknown age: never a candidate
			} else {
				d.born[n] = now
			}
		}
	}
	d.listFailed = false
	for n := range d.born {
		if !present[n] {
			delete(d.born, n)
		}
	}
}

func (d *WatchedDir) pollLoop(ctx context.Context) {
	t := time.NewTicker(d.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.refresh()
		}
	}
}

// readLoop reads inotify events until the file is closed. If the watch
// ends (the directory was removed or moved), it falls back to polling.
func (d *WatchedDir) readLoop(ctx context.Context, f *os.File) {
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := f.Read(buf)
		if err != nil {
			if ctx.Err() == nil {
				d.fallBackToPolling(ctx)
			}
			return
		}
		now := time.Now()
		lost := false
		d.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			name := unix.ByteSliceToString(nameBytes)
			switch {
			case ev.Mask&unix.IN_Q_OVERFLOW != 0:
				// Events were lost: files found now have an unknown age.
				d.listFailed = true
			case ev.Mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0:
				lost = true
			case name == "":
			case ev.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
				// A file listed by Watch stays old (see there).
				if _, ok := d.born[name]; !ok {
					d.born[name] = now
				}
			case ev.Mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0:
				delete(d.born, name)
			}
		}
		overflow := d.listFailed
		d.mu.Unlock()
		if overflow {
			d.refresh()
		}
		if lost {
			f.Close()
			d.fallBackToPolling(ctx)
			return
		}
	}
}

func (d *WatchedDir) fallBackToPolling(ctx context.Context) {
	d.mu.Lock()
	d.poll = true
	d.mu.Unlock()
	d.refresh()
	d.pollLoop(ctx)
}

// Born implements Dir.
func (d *WatchedDir) Born(after time.Time) []File {
	d.mu.Lock()
	poll := d.poll
	d.mu.Unlock()
	if poll {
		d.refresh() // do not wait for the next tick
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []File
	for n, t := range d.born {
		if !t.IsZero() && t.After(after) {
			out = append(out, File{Name: n, Born: t})
		}
	}
	return out
}

// Open implements Dir.
func (d *WatchedDir) Open(name string) (Namespace, error) {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return nil, fmt.Errorf("sandbox file %q: %w", name, netnsutil.ErrNotFound)
	}
	return netnsutil.OpenPath(filepath.Join(d.Dir, name))
}

// Owners implements Dir.
func (d *WatchedDir) Owners(ns []netnsutil.ID) (map[netnsutil.ID][]string, error) {
	if err := d.Procs.Refresh(); err != nil {
		return nil, fmt.Errorf("processes: %w", err)
	}
	out := make(map[netnsutil.ID][]string, len(ns))
	for _, id := range ns {
		if ids := d.Procs.ContainersIn(id); len(ids) > 0 {
			out[id] = ids
		}
	}
	return out, nil
}
