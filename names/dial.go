package names

import (
	"context"
	"net"

	"github.com/dcfw/dcfw/netnsutil"
)

// DialFunc opens a connection for a query: "udp" or "tcp" to address
// (host:port).
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// DialIn returns a DialFunc whose sockets are created inside the network
// namespace nsFd refers to (e.g. netnsutil.NS.Fd(); it must stay open
// while the DialFunc is used). A socket belongs to the namespace it was
// created in for life, so only its creation needs the namespace
// (netnsutil.Do).
func DialIn(nsFd int) DialFunc {
	return func(ctx context.Context, network, address string) (conn net.Conn, err error) {
		derr := netnsutil.Do(nsFd, func() error {
			var d net.Dialer
			conn, err = d.DialContext(ctx, network, address)
			return nil
		})
		if derr != nil {
			if conn != nil {
				conn.Close()
			}
			return nil, derr
		}
		return conn, err
	}
}
