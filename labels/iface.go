package labels

import (
	"fmt"
	"strings"
)

// maxIfaceLen is IFNAMSIZ-1: the kernel's limit on an interface name.
const maxIfaceLen = 15

// checkIface validates an interface name for `on`. It returns a message and
// a hint, or "" when the name is fine.
//
// The kernel (dev_valid_name) allows any bytes except '/', ':' and white
// space, 1..15 of them, and not "." or "..". dcfw is stricter: printable
// ASCII only, because a name that cannot be typed cannot be checked by a
// person reading the rule. A trailing '*' matches every interface whose
// name starts with the rest (eth* matches eth0, eth1, ...); '*' elsewhere is
// an error, and so is a bare '*' or "any": leave out `on` to match every
// interface.
func checkIface(name string) (msg, hint string) {
	stem, wildcard := strings.CutSuffix(name, "*")
	switch {
	case name == "*" || strings.EqualFold(name, "any"):
		return fmt.Sprintf("interface %s is not a name", quoteTok(name)), `leave out "on" to match every interface`
	case stem == "":
		return "empty interface name", ""
	case len(stem) > maxIfaceLen:
		hint := fmt.Sprintf("Linux allows at most %d characters", maxIfaceLen)
		if wildcard {
			hint += " before the *"
		}
		return fmt.Sprintf("interface name %s is too long", quoteTok(name)), hint
	case stem == "." || stem == "..":
		return fmt.Sprintf("interface name %s is not allowed by Linux", quoteTok(name)), ""
	}
	for i := 0; i < len(stem); i++ {
		c := stem[i]
		switch {
		case c == '*':
			return fmt.Sprintf("* inside interface name %s", quoteTok(name)), "only a trailing * is a wildcard"
		case c == '/' || c == ':':
			return fmt.Sprintf("interface name %s contains %q", quoteTok(name), c), "Linux does not allow / and : in names"
		case c <= ' ' || c >= 0x7f:
			return fmt.Sprintf("interface name %s contains a character other than printable ASCII", quoteTok(name)), ""
		}
	}
	return "", ""
}
