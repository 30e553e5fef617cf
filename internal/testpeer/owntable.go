package testpeer

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nftTableFlagOwner is NFT_TABLE_F_OWNER: the table belongs to the netlink
// socket that made it, no one else may change or delete it, and it goes
// when that socket closes (Linux ≥ 5.12).
const nftTableFlagOwner = 0x2

// OwnTable makes `table inet <name> { flags owner; }` in the caller's
// network namespace (needs CAP_NET_ADMIN) and returns the netlink socket
// that owns it: the table lasts until it is closed. It is what a
// container with NET_ADMIN can do to keep dcfw's table out: a table of
// dcfw's name that dcfw cannot replace.
func OwnTable(name string) (*netlink.Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("own table: netlink: %w", err)
	}
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian // netfilter attributes are big endian
	ae.String(unix.NFTA_TABLE_NAME, name)
	ae.Uint32(unix.NFTA_TABLE_FLAGS, nftTableFlagOwner)
	attrs, err := ae.Encode()
	if err != nil {
		c.Close()
		return nil, err
	}
	// nfgenmsg: family, version, resource ID (big endian).
	genmsg := func(family uint8, resID uint16) []byte {
		return binary.BigEndian.AppendUint16([]byte{family, unix.NFNETLINK_V0}, resID)
	}
	msgs := []netlink.Message{
		{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: netlink.Request},
			Data: genmsg(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)},
		{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWTABLE),
			Flags: netlink.Request | netlink.Acknowledge | netlink.Create},
			Data: append(genmsg(unix.NFPROTO_INET, 0), attrs...)},
		{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: netlink.Request},
			Data: genmsg(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)},
	}
	if _, err := c.SendMessages(msgs); err != nil {
		c.Close()
		return nil, fmt.Errorf("own table: send: %w", err)
	}
	if _, err := c.Receive(); err != nil {
		c.Close()
		return nil, fmt.Errorf("own table: %w", err)
	}
	return c, nil
}
