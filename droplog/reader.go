package droplog

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/labels"
	"github.com/dcfw/dcfw/nflog"
	"github.com/dcfw/dcfw/nft"
)

// DefaultGroup is the NFLOG group dcfw's tables log to when Config names
// none. Groups are per namespace, so every namespace uses the same one.
const DefaultGroup uint16 = 3535

// summaryEvery is how often a Reader checks whether a minute that held
// lines back is over, so its summary comes even when no record follows.
const summaryEvery = 5 * time.Second

// Config tunes Readers; the zero value uses the defaults.
type Config struct {
	// Group is the NFLOG group of the tables' log rules (see
	// nft.Table.LogToGroup); 0 means DefaultGroup.
	Group uint16
	// PerMinute caps the lines per container per minute; 0 means
	// DefaultPerMinute.
	PerMinute int
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

func (c Config) group() uint16 {
	if c.Group == 0 {
		return DefaultGroup
	}
	return c.Group
}

func (c Config) now() func() time.Time {
	if c.Now == nil {
		return time.Now
	}
	return c.Now
}

// Reader writes the records of one namespace to the log until Close.
type Reader struct {
	ns  namespace
	log *zap.Logger
	now func() time.Time

	mu      sync.Mutex
	c       Container
	rules   nft.LogRules
	lim     *limiter
	blocked hourly
	lost    int // records the socket lost since the last summary

	stop, done chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// Open starts a Reader of the namespace nsFd refers to (nsFd may be closed
// once it returns), for container c, whose table's log rules are rules.
// It fails with an error wrapping nflog.ErrGroupBusy when something in the
// namespace already reads the group.
func Open(nsFd int, c Container, rules nft.LogRules, log *zap.Logger, cfg Config) (*Reader, error) {
	ns, err := openNamespace(nsFd, cfg.group(), cfg.now())
	if err != nil {
		return nil, err
	}
	r := newReader(ns, c, rules, log, cfg)
	go r.summaries()
	return r, nil
}

// newReader starts a Reader of ns; it owns ns from now on. What flushes
// its summaries is the caller's: its own ticker (Open), or the Hub's one
// for all its Readers.
func newReader(ns namespace, c Container, rules nft.LogRules, log *zap.Logger, cfg Config) *Reader {
	r := &Reader{
		ns: ns, log: log, now: cfg.now(),
		c: c, rules: rules, lim: newLimiter(cfg.PerMinute),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go r.read()
	return r
}

// Stopped is closed when the Reader has stopped reading: after Close, or
// after the namespace's socket failed (which it logs).
func (r *Reader) Stopped() <-chan struct{} { return r.done }

// SetRules gives the Reader the container and log rules of the table just
// applied in its namespace.
func (r *Reader) SetRules(c Container, rules nft.LogRules) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.c, r.rules = c, rules
}

// Blocked returns how many blocked packets were logged in the last hour
// (those the kernel's rate limits let through, whether or not the cap held
// their lines back).
func (r *Reader) Blocked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blocked.last(r.now())
}

// Close ends the Reader: it closes the namespace's sockets (releasing the
// namespace) and waits for the reading to stop, then writes the summary of
// lines still held back. Later calls return the first one's result.
func (r *Reader) Close() error {
	r.closeOnce.Do(func() {
		close(r.stop)
		r.closeErr = r.ns.Close()
		<-r.done
		r.mu.Lock()
		defer r.mu.Unlock()
		r.writeSummary(r.lim.take(r.now()))
	})
	return r.closeErr
}

func (r *Reader) read() {
	defer close(r.done)
	for {
		recs, err := r.ns.Receive()
		if errors.Is(err, nflog.ErrOverrun) {
			r.mu.Lock()
			r.lost++
			r.mu.Unlock()
			continue
		}
		if err != nil {
			select {
			case <-r.stop:
			default:
				r.mu.Lock()
				r.log.Warn("stopped reading blocked packets", append(r.c.fields(), zap.Error(err))...)
				r.mu.Unlock()
			}
			return
		}
		for _, rec := range recs {
			r.handle(rec)
		}
	}
}

// handle writes the line of one record, unless the cap holds it back.
func (r *Reader) handle(rec nflog.Record) {
	r.mu.Lock()
	c, rules := r.c, r.rules
	r.mu.Unlock()
	// Outside the lock: naming an interface may ask the kernel.
	l := describe(rec, rules, r.ns.InterfaceName)

	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if l.blocked {
		r.blocked.add(now)
	}
	ok, s := r.lim.allow(now, l.rule)
	r.writeSummary(s)
	if !ok {
		return
	}
	msg := msgLogged
	if l.blocked {
		msg = msgBlocked
	}
	r.log.Info(msg, l.fields(c)...)
}

// summaries writes the summary of a minute that held lines back once it
// is over, even when no record comes after it.
func (r *Reader) summaries() {
	t := time.NewTicker(summaryEvery)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.flush()
		}
	}
}

// flush writes the summary of the window that ended before now, if any.
func (r *Reader) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writeSummary(r.lim.roll(r.now()))
}

// writeSummary writes what s held back and what the socket lost, if
// anything. r.mu is held.
func (r *Reader) writeSummary(s *suppression) {
	if s == nil && r.lost == 0 {
		return
	}
	fs := r.c.fields()
	if s != nil {
		var per []string
		for _, rc := range s.Rules() {
			per = append(per, labels.SafeText(rc.Rule, maxLoggedText)+"="+strconv.Itoa(rc.Lines))
		}
		fs = append(fs, zap.Int("lines", s.Lines), zap.Int("cap_per_minute", r.lim.perMinute),
			zap.Time("from", s.From), zap.Time("to", s.To), zap.String("rules", strings.Join(per, " ")))
	}
	if r.lost > 0 {
		fs = append(fs, zap.Int("overruns", r.lost))
		r.lost = 0
	}
	r.log.Warn(msgSuppressed, fs...)
}
