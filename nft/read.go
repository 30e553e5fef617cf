package nft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Reading uses our own nfnetlink requests on the Conn's socket rather than
// the library's ListTable/ListChains/GetRules, because v0.3.0's GetRules
// silently drops expressions it does not know (a tampered rule could then
// compare equal to one of ours), none of them notices an interrupted dump,
// and the library has no generation-ID request. A read is:
//
//	GETGEN, GETTABLE dump, GETCHAIN dump, GETRULE dump (inet, table dcfw),
//	GETRULE dump (netdev, table dcfw), GETSET dump (inet, table dcfw) and
//	a GETSETELEM dump per set, GETGEN
//
// (the table and chain dumps cover both families, `table inet dcfw` and
// `table netdev dcfw`, in one go)
//
// and is repeated (up to readAttempts times) when the generation changed in
// between or a dump was interrupted, so the Table returned is one
// consistent snapshot of the ruleset.

const readAttempts = 5

// nativeEndian is the byte order of netlink headers (host order).
var nativeEndian = binary.NativeEndian

// Read returns the live `table inet dcfw` of the namespace, with `table
// netdev dcfw` as its Egress, or nil (and no error) when neither exists
// (when only the netdev table does, the inet part reports Missing). Chains
// are in the kernel's order; rules that dcfw does not make are marked
// Foreign. Secret holds the values the live rules carry.
func (c *Conn) Read() (*Table, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, _, err := c.read(true)
	return t, err
}

// read reads the table; with decode the rules' fields are filled at once,
// without only their keys are (see liveRule). gen is the ruleset
// generation the table is a snapshot of: no change was committed in the
// namespace between the two generation requests around the dumps.
func (c *Conn) read(decode bool) (t *Table, gen uint32, err error) {
	if c.nl == nil {
		return nil, 0, fmt.Errorf("%w: connection closed", ErrRead)
	}
	for range readAttempts {
		t, gen, consistent, err := c.readOnce(decode)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w", ErrRead, err)
		}
		if consistent {
			return t, gen, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: the ruleset kept changing while being read (%d attempts)", ErrRead, readAttempts)
}

// readOnce reads the table once; consistent is false when the ruleset
// changed during the read.
func (c *Conn) readOnce(decode bool) (t *Table, gen uint32, consistent bool, err error) {
	gen1, err := c.Generation()
	if err != nil {
		return nil, 0, false, err
	}
	c.dumps++
	t, intr, err := c.readTable(decode)
	if err != nil {
		return nil, 0, false, err
	}
	gen2, err := c.Generation()
	if err != nil {
		return nil, 0, false, err
	}
	return t, gen1, gen1 == gen2 && !intr, nil
}

// tableExists asks for the table of family fam only (no chains, no rules).
func (c *Conn) tableExists(fam byte) (bool, error) {
	if c.nl == nil {
		return false, errors.New("connection closed")
	}
	_, err := c.request(unix.NFT_MSG_GETTABLE, 0, fam, []netlink.Attribute{
		{Type: unix.NFTA_TABLE_NAME, Data: cstring(TableName)},
	})
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return err == nil, err
}

func (c *Conn) readTable(decode bool) (t *Table, interrupted bool, err error) {
	// One dump per kind for both families (family unspecified): the
	// table of each family, and chains and rules of tables named dcfw.
	msgs, err := c.request(unix.NFT_MSG_GETTABLE, netlink.Dump, unix.NFPROTO_UNSPEC, nil)
	if err != nil {
		return nil, false, fmt.Errorf("dump tables: %w", err)
	}
	var inet, netdev *Table
	for _, m := range msgs {
		interrupted = interrupted || m.Header.Flags&netlink.DumpInterrupted != 0
		var name string
		var flags uint32
		for _, a := range msgAttrs(m) {
			switch {
			case a.typ == unix.NFTA_TABLE_NAME:
				name = attrString(a.data)
			case a.typ == unix.NFTA_TABLE_FLAGS && len(a.data) == 4:
				flags = binary.BigEndian.Uint32(a.data)
			}
		}
		if name != TableName {
			continue
		}
		switch msgFamily(m) {
		case unix.NFPROTO_INET:
			inet = &Table{Flags: flags}
		case unix.NFPROTO_NETDEV:
			netdev = &Table{Flags: flags}
		}
	}
	if inet == nil && netdev == nil {
		return nil, interrupted, nil
	}
	// Only the netdev table there: a live inet table with no chains that
	// says it is missing (Missing), so that Egress has a home.
	t = inet
	if t == nil {
		t = &Table{missing: true}
	}
	t.Egress = netdev
	of := func(m netlink.Message) *Table {
		switch msgFamily(m) {
		case unix.NFPROTO_INET:
			return inet
		case unix.NFPROTO_NETDEV:
			return netdev
		}
		return nil
	}

	msgs, err = c.request(unix.NFT_MSG_GETCHAIN, netlink.Dump, unix.NFPROTO_UNSPEC, nil)
	if err != nil {
		return nil, false, fmt.Errorf("dump chains: %w", err)
	}
	for _, m := range msgs {
		interrupted = interrupted || m.Header.Flags&netlink.DumpInterrupted != 0
		ch, table := parseChain(msgAttrs(m))
		if tt := of(m); table == TableName && tt != nil {
			tt.Chains = append(tt.Chains, ch)
		}
	}

	// Rules: one dump per family, since a rule dump filtered by table
	// name stops after the first table of that name.
	msgs = nil
	for _, f := range []struct {
		fam byte
		t   *Table
	}{{unix.NFPROTO_INET, inet}, {unix.NFPROTO_NETDEV, netdev}} {
		if f.t == nil {
			continue
		}
		ms, err := c.request(unix.NFT_MSG_GETRULE, netlink.Dump, f.fam, []netlink.Attribute{
			{Type: unix.NFTA_RULE_TABLE, Data: cstring(TableName)},
		})
		if err != nil {
			return nil, false, fmt.Errorf("dump rules: %w", err)
		}
		msgs = append(msgs, ms...)
	}
	for _, m := range msgs {
		interrupted = interrupted || m.Header.Flags&netlink.DumpInterrupted != 0
		chain, table, r := parseRule(msgAttrs(m), decode)
		tt := of(m)
		if table != TableName || tt == nil {
			continue
		}
		if ch := tt.Chain(chain); ch != nil {
			ch.Rules = append(ch.Rules, r)
		} else {
			// A rule of a chain created after the chain dump: the
			// generation check will see the change.
			interrupted = true
		}
	}
	if inet != nil {
		sets, intr, err := c.readSets()
		if err != nil {
			return nil, false, err
		}
		inet.Sets, interrupted = sets, interrupted || intr
	}
	t.Secret = liveSecret(t)
	return t, interrupted, nil
}

func msgFamily(m netlink.Message) byte {
	if len(m.Data) == 0 {
		return 0
	}
	return m.Data[0]
}

// Generation returns the namespace's nf_tables generation ID, which the
// kernel bumps on every committed change in the namespace (ours, Docker's,
// anyone's): one request, nothing read.
func (c *Conn) Generation() (uint32, error) {
	msgs, err := c.request(unix.NFT_MSG_GETGEN, 0, unix.AF_UNSPEC, nil)
	if err != nil {
		return 0, fmt.Errorf("get generation: %w", err)
	}
	for _, m := range msgs {
		for _, a := range msgAttrs(m) {
			if a.typ == unix.NFTA_GEN_ID && len(a.data) == 4 {
				return binary.BigEndian.Uint32(a.data), nil
			}
		}
	}
	return 0, errors.New("get generation: no generation ID in reply")
}

// request sends one nf_tables request and returns the replies (all parts
// of a dump).
func (c *Conn) request(msgType int, flags netlink.HeaderFlags, family byte, attrs []netlink.Attribute) ([]netlink.Message, error) {
	data := []byte{family, unix.NFNETLINK_V0, 0, 0}
	if len(attrs) > 0 {
		b, err := netlink.MarshalAttributes(attrs)
		if err != nil {
			return nil, err
		}
		data = append(data, b...)
	}
	return c.nl.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | msgType),
			Flags: netlink.Request | flags,
		},
		Data: data,
	})
}

func cstring(s string) []byte { return append([]byte(s), 0) }

type attr struct {
	typ  uint16
	data []byte
}

// parseAttrs splits netlink attributes (type flags such as NLA_F_NESTED
// removed). The data slices point into b: a dump of a thousand rules is
// split into tens of thousands of attributes, and copying each (as
// netlink.AttributeDecoder.Bytes does) would dominate the cost of a read.
func parseAttrs(b []byte) ([]attr, error) {
	out := make([]attr, 0, 8)
	for len(b) > 0 {
		if len(b) < unix.SizeofNlAttr {
			return out, fmt.Errorf("netlink attribute: %d bytes left, header needs %d", len(b), unix.SizeofNlAttr)
		}
		n := int(nativeEndian.Uint16(b[0:2]))
		typ := nativeEndian.Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if n < unix.SizeofNlAttr || n > len(b) {
			return out, fmt.Errorf("netlink attribute: length %d out of bounds (%d bytes left)", n, len(b))
		}
		out = append(out, attr{typ: typ, data: b[unix.SizeofNlAttr:n:n]})
		n = (n + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1)
		if n > len(b) {
			n = len(b)
		}
		b = b[n:]
	}
	return out, nil
}

// msgAttrs returns the attributes of an nf_tables message (after its
// nfgenmsg header); a malformed message yields none.
func msgAttrs(m netlink.Message) []attr {
	if len(m.Data) < 4 {
		return nil
	}
	as, _ := parseAttrs(m.Data[4:])
	return as
}

func attrString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// nftaHookDevs is NFTA_HOOK_DEVS (linux/netfilter/nf_tables.h), which
// golang.org/x/sys/unix does not define.
const nftaHookDevs = 4

func parseChain(as []attr) (c *Chain, table string) {
	c = &Chain{}
	for _, a := range as {
		switch a.typ {
		case unix.NFTA_CHAIN_TABLE:
			table = attrString(a.data)
		case unix.NFTA_CHAIN_NAME:
			c.Name = attrString(a.data)
		case unix.NFTA_CHAIN_TYPE:
			c.Type = attrString(a.data)
		case unix.NFTA_CHAIN_POLICY:
			if len(a.data) == 4 {
				c.Policy = Policy(binary.BigEndian.Uint32(a.data))
			}
		case unix.NFTA_CHAIN_HOOK:
			hook, _ := parseAttrs(a.data)
			for _, h := range hook {
				switch {
				case h.typ == unix.NFTA_HOOK_HOOKNUM && len(h.data) == 4:
					c.Hook = Hook(binary.BigEndian.Uint32(h.data))
					c.Base = true
				case h.typ == unix.NFTA_HOOK_PRIORITY && len(h.data) == 4:
					c.Priority = int32(binary.BigEndian.Uint32(h.data))
				case h.typ == unix.NFTA_HOOK_DEV && c.Device == "":
					c.Device = attrString(h.data)
				case h.typ == nftaHookDevs:
					// Newer kernels list the devices here (and the
					// first one again in NFTA_HOOK_DEV).
					devs, _ := parseAttrs(h.data)
					var names []string
					for _, d := range devs {
						names = append(names, attrString(d.data))
					}
					c.Device = strings.Join(names, ",")
				}
			}
		}
	}
	return c, table
}

func parseRule(as []attr, decode bool) (chain, table string, r Rule) {
	var (
		raws   []rawExpr
		udata  []byte
		handle uint64
	)
	for _, a := range as {
		switch a.typ {
		case unix.NFTA_RULE_TABLE:
			table = attrString(a.data)
		case unix.NFTA_RULE_CHAIN:
			chain = attrString(a.data)
		case unix.NFTA_RULE_HANDLE:
			if len(a.data) == 8 {
				handle = binary.BigEndian.Uint64(a.data)
			}
		case unix.NFTA_RULE_USERDATA:
			udata = a.data
		case unix.NFTA_RULE_EXPRESSIONS:
			elems, err := parseAttrs(a.data)
			if err != nil {
				// Unknown to decodeExpr: the rule becomes foreign.
				raws = append(raws, rawExpr{name: "(malformed)", data: a.data})
			}
			for _, el := range elems {
				var x rawExpr
				fields, err := parseAttrs(el.data)
				if err != nil {
					x.name = "(malformed)"
				}
				for _, f := range fields {
					switch f.typ {
					case unix.NFTA_EXPR_NAME:
						x.name = attrString(f.data)
					case unix.NFTA_EXPR_DATA:
						x.data = f.data
					}
				}
				raws = append(raws, x)
			}
		}
	}
	return chain, table, liveRule(raws, udata, handle, decode)
}
