package nflog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// Configuration commands and copy modes (NFULNL_CFG_CMD_*, NFULNL_COPY_*).
const (
	cmdBind    = 1
	copyPacket = 2

	attrCfgCmd     = 1 // NFULA_CFG_CMD
	attrCfgMode    = 2 // NFULA_CFG_MODE
	attrCfgTimeout = 4 // NFULA_CFG_TIMEOUT, in 1/100 s
	attrCfgQThresh = 5 // NFULA_CFG_QTHRESH
)

// DefaultCopyRange is how many bytes of each packet Config asks for when
// it names none: an IPv6 header with a few extension headers and a full
// TCP header fit; the rest of the packet is of no use to a log line and
// would only fill the socket's buffer.
const DefaultCopyRange = 128

// Config says which group to bind and how the kernel sends records.
type Config struct {
	// Group is the `log group` number of the rules to receive (0-65535).
	Group uint16
	// CopyRange is how many bytes of each packet to receive, from its
	// network header on; 0 means DefaultCopyRange.
	CopyRange uint32
	// Threshold is how many records the kernel batches before it sends
	// them; 0 means 1, every record at once. (The kernel's own default is
	// 100 records or Flush, which delays a lone record by a second.)
	Threshold uint32
	// Flush is how long the kernel keeps a batch that is below Threshold;
	// 0 keeps the kernel's default (1 s). Rounded down to 10 ms.
	Flush time.Duration
	// ReadBuffer sets the socket's receive buffer in bytes; 0 keeps the
	// system's default.
	ReadBuffer int
}

// Conn is an NFLOG socket bound to one group in one network namespace.
// Receive and Close may be called from different goroutines.
type Conn struct {
	c       *netlink.Conn
	pending []Record // records that arrived before Dial's acknowledgement
}

// Dial opens an NFLOG socket inside the network namespace nsFd refers to
// (0: the caller's own), binds it to cfg.Group and asks for packet copies.
// The socket keeps the namespace alive until Close (see the package doc);
// nsFd itself may be closed as soon as Dial returns.
func Dial(nsFd int, cfg Config) (*Conn, error) {
	nc, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsFd})
	if err != nil {
		return nil, fmt.Errorf("nflog: open netfilter socket: %w", err)
	}
	c := &Conn{c: nc}
	if cfg.ReadBuffer > 0 {
		if err := nc.SetReadBuffer(cfg.ReadBuffer); err != nil {
			nc.Close()
			return nil, fmt.Errorf("nflog: receive buffer: %w", err)
		}
	}
	if err := c.bind(cfg); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// bind sends the bind command and the copy mode in one configuration
// message (the kernel applies the mode to the instance the command just
// made) and waits for the acknowledgement. Records may already come in
// before it; they are kept for Receive.
func (c *Conn) bind(cfg Config) error {
	m, err := configMessage(cfg)
	if err != nil {
		return err
	}
	req, err := c.c.Send(m)
	if err != nil {
		return fmt.Errorf("nflog: bind group %d: %w", cfg.Group, err)
	}
	for {
		msgs, err := c.c.Receive()
		if err != nil {
			return bindError(cfg.Group, err)
		}
		for _, m := range msgs {
			if m.Header.Type == netlink.Error && m.Header.Sequence == req.Header.Sequence {
				return nil // the acknowledgement; errors come back from Receive
			}
			if r, err := DecodeRecord(m); err == nil {
				c.pending = append(c.pending, r)
			}
		}
	}
}

func bindError(group uint16, err error) error {
	switch {
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EPERM):
		// EPERM: the group is bound by another socket (EBUSY: by this
		// one), or the process lacks CAP_NET_ADMIN in the namespace.
		return fmt.Errorf("nflog: bind group %d: %w (or no CAP_NET_ADMIN): %v", group, ErrGroupBusy, err)
	}
	return fmt.Errorf("nflog: bind group %d: %w", group, err)
}

func configMessage(cfg Config) (netlink.Message, error) {
	copyRange := cfg.CopyRange
	if copyRange == 0 {
		copyRange = DefaultCopyRange
	}
	// struct nfulnl_msg_config_mode { __be32 copy_range; __u8 copy_mode; __u8 _pad; } (packed)
	mode := make([]byte, 6)
	binary.BigEndian.PutUint32(mode, copyRange)
	mode[4] = copyPacket
	attrs := []netfilter.Attribute{
		{Type: attrCfgCmd, Data: []byte{cmdBind}},
		{Type: attrCfgMode, Data: mode},
	}
	threshold := cfg.Threshold
	if threshold == 0 {
		threshold = 1
	}
	attrs = append(attrs, netfilter.Attribute{Type: attrCfgQThresh, Data: netfilter.Uint32Bytes(threshold)})
	if cfg.Flush > 0 {
		attrs = append(attrs, netfilter.Attribute{Type: attrCfgTimeout, Data: netfilter.Uint32Bytes(uint32(cfg.Flush / (10 * time.Millisecond)))})
	}
	return netfilter.MarshalNetlink(netfilter.Header{
		SubsystemID: subsysULOG,
		MessageType: msgConfig,
		Family:      netfilter.ProtoUnspec,
		ResourceID:  cfg.Group,
		Flags:       netlink.Request | netlink.Acknowledge,
	}, attrs)
}

// Receive blocks until records arrive and returns them. Messages that are
// not packet records, or that do not decode, are skipped. An overflow of the
// socket's buffer is an error wrapping ErrOverrun (the Conn stays usable);
// after Close, Receive returns an error.
func (c *Conn) Receive() ([]Record, error) {
	if p := c.pending; len(p) > 0 {
		c.pending = nil
		return p, nil
	}
	for {
		msgs, err := c.c.Receive()
		if errors.Is(err, unix.ENOBUFS) {
			return nil, fmt.Errorf("%w: %v", ErrOverrun, err)
		}
		if err != nil {
			return nil, fmt.Errorf("nflog: receive: %w", err)
		}
		recs := make([]Record, 0, len(msgs))
		for _, m := range msgs {
			if r, err := DecodeRecord(m); err == nil {
				recs = append(recs, r)
			}
		}
		if len(recs) > 0 {
			return recs, nil
		}
	}
}

// SetReadDeadline makes a blocked or later Receive return an error once t
// passes (a zero t: no deadline).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// Close unbinds the group (the kernel drops the instance with the socket)
// and closes the socket, releasing its reference to the namespace. A
// Receive blocked in another goroutine returns.
func (c *Conn) Close() error { return c.c.Close() }
