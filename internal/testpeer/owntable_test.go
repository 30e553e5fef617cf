package testpeer

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestOwnTableKeepsOthersOut: the table is there with the owner flag, no
// other socket can delete it, and it goes with its owner.
func TestOwnTableKeepsOthersOut(t *testing.T) {
	inFreshNetNS(t, func(*netlink.Handle) {
		owner, err := OwnTable("dcfw")
		if err != nil {
			t.Errorf("OwnTable: %v", err)
			return
		}
		other, err := nftables.New()
		if err != nil {
			t.Errorf("nftables: %v", err)
			owner.Close()
			return
		}
		tbl, err := other.ListTableOfFamily("dcfw", nftables.TableFamilyINet)
		// google/nftables v0.3.0 decodes the flags in host byte order.
		if err != nil || binary.BigEndian.Uint32(binary.NativeEndian.AppendUint32(nil, tbl.Flags))&nftTableFlagOwner == 0 {
			t.Errorf("table inet dcfw: %+v, %v; want it with the owner flag", tbl, err)
		}
		other.DelTable(&nftables.Table{Name: "dcfw", Family: nftables.TableFamilyINet})
		if err := other.Flush(); !errors.Is(err, unix.EPERM) {
			t.Errorf("another socket deleting the owned table: %v, want EPERM", err)
		}
		owner.Close()
		if _, err := other.ListTableOfFamily("dcfw", nftables.TableFamilyINet); err == nil {
			t.Error("the table outlived its owner")
		}
	})
}
