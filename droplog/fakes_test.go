package droplog

import (
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dcfw/dcfw/nflog"
)

// fakeNamespace hands the records a test sends to a Reader.
type fakeNamespace struct {
	recs   chan []nflog.Record
	errs   chan error
	names  map[uint32]string
	mu     sync.Mutex
	closed chan struct{}
	once   sync.Once
}

func newFakeNamespace() *fakeNamespace {
	return &fakeNamespace{
		recs: make(chan []nflog.Record), errs: make(chan error),
		names:  map[uint32]string{2: "eth0", 3: "eth1"},
		closed: make(chan struct{}),
	}
}

var errFakeClosed = errors.New("fake namespace closed")

func (f *fakeNamespace) Receive() ([]nflog.Record, error) {
	select {
	case r := <-f.recs:
		return r, nil
	case err := <-f.errs:
		return nil, err
	case <-f.closed:
		return nil, errFakeClosed
	}
}

func (f *fakeNamespace) InterfaceName(i uint32) string {
	if n, ok := f.names[i]; ok {
		return n
	}
	return "#?"
}

func (f *fakeNamespace) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeNamespace) isClosed() bool {
	select {
	case <-f.closed:
		return true
	default:
		return false
	}
}

// send hands records to the Reader, failing the test if it does not take
// them within a second.
func (f *fakeNamespace) send(t *testing.T, recs ...nflog.Record) {
	t.Helper()
	select {
	case f.recs <- recs:
	case <-time.After(time.Second):
		t.Fatal("the reader did not take the records")
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Packets as the kernel logged them (payloads of records captured by the
// nflog kernel tests): a TCP SYN 10.99.71.2:60026 -> 10.99.71.1:81, and a
// UDP datagram [fd00:99:71::2]:53932 -> [fd00:99:71::1]:82.
const (
	tcp4SYN = "4500003cc53c40004006d2b60a6347020a634701ea7a00511a0e8c6b00000000a002faf0a2f70000020405b40402080a8eefdce0000000000103030a"
	udp6    = "600a2039001b1140fd000099007100000000000000000002fd000099007100000000000000000001d2ac0052001bfc44646366772d746573746e65742d70726f62650a00"
)

func payload(t testing.TB, h string) []byte {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
