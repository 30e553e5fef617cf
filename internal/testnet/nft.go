package testnet

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/dcfw/dcfw/internal/testenv"
)

// NFT runs the nft binary inside h (`ip netns exec <name> nft args...`) and
// returns its standard output; it fails t if nft fails. For tests only: to
// tamper with a ruleset or to read one back (`h.NFT(t, "list", "table",
// "inet", "dcfw")`). dcfw itself never runs nft. nft joins its arguments,
// so h.NFT(t, "add rule inet t c drop") works too.
func (h *Host) NFT(t testing.TB, args ...string) string {
	t.Helper()
	out, err := h.nft(t, "", args...)
	if err != nil {
		t.Fatalf("testnet: nft %s in %s: %v", strings.Join(args, " "), h, err)
	}
	return out
}

// NFTScript runs `nft -f -` inside h with script on standard input (one
// atomic transaction, like nft -f), and fails t if nft fails.
func (h *Host) NFTScript(t testing.TB, script string) string {
	t.Helper()
	out, err := h.nft(t, script, "-f", "-")
	if err != nil {
		t.Fatalf("testnet: nft -f - in %s: %v\nscript:\n%s", h, err, script)
	}
	return out
}

// TryNFT is NFT for commands that may fail on purpose: it returns nft's
// standard output, and an error carrying its standard error.
func (h *Host) TryNFT(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return h.nft(t, "", args...)
}

func (h *Host) nft(t testing.TB, stdin string, args ...string) (string, error) {
	t.Helper()
	ip, err := exec.LookPath("ip")
	if err == nil {
		_, err = exec.LookPath("nft")
	}
	if err != nil {
		testenv.SkipOrFail(t, "needs the ip and nft binaries (apt-get install iproute2 nftables): "+err.Error())
	}
	cmd := exec.Command(ip, append([]string{"netns", "exec", h.name, "nft"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return stdout.String(), &nftError{err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return stdout.String(), nil
}

type nftError struct {
	err    error
	stderr string
}

func (e *nftError) Error() string { return e.err.Error() + ": " + e.stderr }
func (e *nftError) Unwrap() error { return e.err }
