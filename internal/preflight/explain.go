package preflight

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/nft"
)

// ExplainError appends the likely missing capability to an nftables error
// the kernel refused with EPERM (errors.Is and errors.As still see the
// original). The checks in Run make such refusals rare, but a container's
// namespace can still refuse what dcfw's own allowed (another user
// namespace, a security module), and the log line must then say more than
// "operation not permitted": entering the namespace (nft.ErrDial, a
// setns) needs CAP_SYS_ADMIN, any nf_tables request CAP_NET_ADMIN. Other
// errors are returned as they are.
func ExplainError(err error) error {
	if err == nil || !errors.Is(err, unix.EPERM) {
		return err
	}
	if errors.Is(err, nft.ErrDial) {
		return fmt.Errorf("%w (entering a container's network namespace needs CAP_SYS_ADMIN, and no security module refusing setns)", err)
	}
	return fmt.Errorf("%w (nftables requests need CAP_NET_ADMIN over the container's network namespace)", err)
}
