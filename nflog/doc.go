// Package nflog receives the packets that nftables `log group N` statements
// send to userspace (NFLOG, the nfnetlink_log subsystem), inside one
// network namespace, and decodes them.
//
//	c, err := nflog.Dial(nsFd, nflog.Config{Group: 7})
//	defer c.Close()
//	for {
//		recs, err := c.Receive() // blocks; Close ends it with net.ErrClosed
//		...
//		pkt, err := nflog.DecodePacket(rec.Payload) // addresses, ports
//	}
//
// NFLOG delivers records to a socket bound to the group in the namespace
// where the packet was logged, whatever net.netfilter.nf_log_all_netns says:
// that sysctl only gates the kernel-log backend (`log` without group). This
// package never reads or writes it.
//
// # Be aware
//
//   - The socket holds a reference to its namespace: while it is open, the
//     namespace (with its interfaces, addresses and tables) lives on, even
//     after every process in it has exited and Docker has unmounted its
//     sandbox file. Dial itself keeps nothing else: the namespace's file
//     descriptor is only used to create the socket and may be closed right
//     after. A caller that must not keep namespaces alive closes the Conn
//     when the namespace's containers go; nothing in the socket tells it.
//   - One socket per group per namespace: a second Dial of the same group in
//     the same namespace fails with ErrGroupBusy (the kernel's EBUSY), since
//     the kernel sends each group's records to one socket only.
//   - Records the socket could not take (the receive buffer was full) are
//     lost; Receive then returns an error wrapping ErrOverrun once, and the
//     next call goes on with the records that came after.
//   - The kernel keeps the records it sends in a batch until Config.Flush
//     passes or Config.Threshold records are waiting. Dial asks for a
//     threshold of 1 unless told otherwise, so each record comes at once
//     (the kernel's default of 100 would hold a lone record for a second).
//   - Packets of the input hook carry a timestamp when the interface stamped
//     them; packets of the output hook usually carry none (Record.Time is
//     then zero).
package nflog
