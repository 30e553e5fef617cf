package droplog

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
)

// Hub keeps one Reader per managed namespace, keyed by the namespace's
// identity (containers sharing a namespace share its Reader).
type Hub struct {
	log  *zap.Logger
	cfg  Config
	open func(nsFd int, group uint16, now func() time.Time) (namespace, error)

	mu      sync.Mutex
	readers map[netnsutil.ID]*Reader
	closed  bool
	// stop ends the one goroutine that flushes every Reader's summaries
	// (started with the first Reader): not one ticker per namespace.
	stop chan struct{}
}

// NewHub returns an empty Hub whose Readers write to log.
func NewHub(log *zap.Logger, cfg Config) *Hub {
	return &Hub{log: log, cfg: cfg, open: openNamespace, readers: map[netnsutil.ID]*Reader{}}
}

// Group returns the NFLOG group the Hub's Readers bind: the one to pass to
// nft.Table.LogToGroup.
func (h *Hub) Group() uint16 { return h.cfg.group() }

// Watch makes sure the namespace id (open as nsFd, which Watch does not
// keep) has a Reader, with container c and the log rules of the table just
// applied there. A namespace already watched only gets the new container
// and rules, and nsFd is not used, unless its Reader stopped on an error:
// then it gets a new one.
func (h *Hub) Watch(id netnsutil.ID, nsFd int, c Container, rules nft.LogRules) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrHubClosed
	}
	if r, ok := h.readers[id]; ok {
		select {
		case <-r.Stopped():
			// Its socket failed: open a new one below.
			r.Close()
			delete(h.readers, id)
		default:
			r.SetRules(c, rules)
			return nil
		}
	}
	// Opening is two socket calls inside the namespace: short enough to
	// hold the lock, and two Watches of one namespace must not both open.
	ns, err := h.open(nsFd, h.cfg.group(), h.cfg.now())
	if err != nil {
		return err
	}
	h.readers[id] = newReader(ns, c, rules, h.log, h.cfg)
	if h.stop == nil {
		h.stop = make(chan struct{})
		go h.summaries(h.stop)
	}
	return nil
}

// summaries flushes the summaries of every Reader once a window is over,
// even when no record comes after it.
func (h *Hub) summaries(stop chan struct{}) {
	t := time.NewTicker(summaryEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			h.mu.Lock()
			rs := make([]*Reader, 0, len(h.readers))
			for _, r := range h.readers {
				rs = append(rs, r)
			}
			h.mu.Unlock()
			for _, r := range rs {
				r.flush()
			}
		}
	}
}

// Forget closes the Reader of namespace id, if any, releasing the
// namespace.
func (h *Hub) Forget(id netnsutil.ID) {
	h.mu.Lock()
	r := h.readers[id]
	delete(h.readers, id)
	h.mu.Unlock()
	if r != nil {
		r.Close()
	}
}

// Retain closes the Readers of every namespace keep does not want: a
// controller passes the namespaces it manages after each full cycle, so a
// namespace whose containers went is released even when no event said so.
func (h *Hub) Retain(keep func(netnsutil.ID) bool) {
	h.mu.Lock()
	var gone []*Reader
	for id, r := range h.readers {
		if !keep(id) {
			gone = append(gone, r)
			delete(h.readers, id)
		}
	}
	h.mu.Unlock()
	for _, r := range gone {
		r.Close()
	}
}

// Blocked returns the blocked packets logged in namespace id in the last
// hour, and whether the namespace is watched.
func (h *Hub) Blocked(id netnsutil.ID) (int, bool) {
	h.mu.Lock()
	r, ok := h.readers[id]
	h.mu.Unlock()
	if !ok {
		return 0, false
	}
	return r.Blocked(), true
}

// BlockedAll returns the blocked packets logged in the last hour in every
// watched namespace (for a status report of all containers at once).
func (h *Hub) BlockedAll() map[netnsutil.ID]int {
	h.mu.Lock()
	rs := make(map[netnsutil.ID]*Reader, len(h.readers))
	for id, r := range h.readers {
		rs[id] = r
	}
	h.mu.Unlock()
	out := make(map[netnsutil.ID]int, len(rs))
	for id, r := range rs {
		out[id] = r.Blocked()
	}
	return out
}

// Watching returns the number of namespaces with a Reader.
func (h *Hub) Watching() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.readers)
}

// Close closes every Reader; later Watches fail.
func (h *Hub) Close() {
	h.mu.Lock()
	if !h.closed && h.stop != nil {
		close(h.stop)
	}
	h.closed = true
	rs := h.readers
	h.readers = map[netnsutil.ID]*Reader{}
	h.mu.Unlock()
	for _, r := range rs {
		r.Close()
	}
}
