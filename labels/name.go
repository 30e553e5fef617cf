package labels

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxNameLen is the longest name, in bytes, without a trailing dot: the
// longest DNS name that fits the wire format (RFC 1035 §2.3.4).
const MaxNameLen = 253

// maxNameLabelLen is the longest label of a name (the part between dots).
const maxNameLabelLen = 63

// nameAt is one name of an address list with where it was written, so a
// limit found later (too many names in the container) can point at it.
type nameAt struct {
	name string // canonical: lower case, no trailing dot
	off  int
	raw  string
}

// isAddressElement reports whether a list element is meant as an address
// rather than a name: it has a colon (IPv6), a zone, or the part before any
// '/' is digits and dots only (10.0.0.5, 10.0.0.256, 10.0.0). A name is
// never read where an address was meant: a mistyped address stays an
// address error instead of becoming a name that silently never resolves.
func isAddressElement(e string) bool {
	if strings.ContainsAny(e, ":%") {
		return true
	}
	addrPart, _, _ := strings.Cut(e, "/")
	return addrPart != "" && strings.Trim(addrPart, "0123456789.") == ""
}

// parseName checks one name element written at offset off. Names are DNS
// host names (RFC 1123): labels of letters, digits and hyphens, 1..63 bytes,
// not starting or ending with a hyphen, at most MaxNameLen bytes in all.
// The last label must not be all digits (RFC 3696 §2), so no name can be
// read as an address. Case is folded and one trailing dot dropped: DNS
// names are case-insensitive, and a name with a dot is never searched in
// the resolver's search domains anyway, so both spellings mean the same.
func (p *ruleParser) parseName(e string, off int) (nameAt, bool) {
	name := strings.TrimSuffix(e, ".")
	if msg, hint, at, n := checkName(name); msg != "" {
		tok := e
		if at >= 0 {
			tok = e[at : at+n]
			off += at
		}
		p.fail(off, tok, ErrValue, msg, hint)
		return nameAt{}, false
	}
	return nameAt{name: strings.ToLower(name), off: off, raw: e}, true
}

// ValidName reports whether name is a name as Parse gives it: a valid DNS
// host name, lower case, without a trailing dot.
func ValidName(name string) bool {
	msg, _, _, _ := checkName(name)
	return msg == "" && name == strings.ToLower(name)
}

// nameHint is the hint of every malformed name.
const nameHint = "a name is a container, service or DNS host name: letters, digits, hyphens and dots"

// checkName returns what is wrong with name (without its trailing dot), a
// hint, and where the problem is in it: n bytes at offset at (at -1: the
// whole name); msg is "" for a valid name.
func checkName(name string) (msg, hint string, at, n int) {
	switch {
	case name == "":
		return "empty name", nameHint, -1, 0
	case len(name) > MaxNameLen:
		return fmt.Sprintf("name is %d bytes long, at most %d are allowed", len(name), MaxNameLen), "", -1, 0
	}
	start := 0
	for _, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return fmt.Sprintf("empty label in name %s", quoteTok(name)), nameHint, start, 0
		case len(label) > maxNameLabelLen:
			return fmt.Sprintf("label %s of a name is %d bytes long, at most %d are allowed",
				quoteTok(label), len(label), maxNameLabelLen), "", start, len(label)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Sprintf("label %s of a name starts or ends with a hyphen", quoteTok(label)), nameHint, start, len(label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
				continue
			}
			_, size := utf8.DecodeRuneInString(label[i:])
			msg := fmt.Sprintf("character %s not allowed in name %s", quoteTok(label[i:i+size]), quoteTok(name))
			switch c {
			case '_':
				// Compose v1 named containers project_web_1: not a DNS name,
				// but the service name (web) is, and the embedded DNS knows it.
				hint = "a name is a DNS name, without underscores; use the compose service name or a network alias"
			case '*':
				hint = "names have no wildcards"
			case '/':
				hint = "a name has no prefix length"
			default:
				hint = nameHint
			}
			if c >= 0x80 {
				msg = fmt.Sprintf("non-ASCII name %s", quoteTok(name))
				hint = "write an internationalised name in its xn-- form"
			}
			return msg, hint, start + i, size
		}
		start += len(label) + 1
	}
	last := name[strings.LastIndexByte(name, '.')+1:]
	if strings.Trim(last, "0123456789") == "" {
		return fmt.Sprintf("name %s ends in an all-digit label", quoteTok(name)),
			"it is neither an address nor a host name", -1, 0
	}
	return "", "", -1, 0
}

// canonicalNames sorts and deduplicates names (already lower case).
func canonicalNames(ns []nameAt) []string {
	if len(ns) == 0 {
		return nil
	}
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.name
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Names returns the distinct names the policy's rules use, sorted: what the
// caller has to resolve for the container.
func (p Policy) Names() []string { return p.names(func(Rule) bool { return true }) }

// DenyNames returns the distinct names that deny or reject rules use,
// sorted. While such a name stands for no address, its rule blocks less
// than its author meant (nothing at all): the caller locks the container
// down until it resolves, rather than let through what it should block.
func (p Policy) DenyNames() []string { return p.names(func(r Rule) bool { return r.Action != Allow }) }

// HasNames reports whether any rule of the policy matches a name, without
// building the list.
func (p Policy) HasNames() bool {
	for _, c := range []Chain{p.Input, p.Output} {
		if slices.ContainsFunc(c.Rules, Rule.HasNames) {
			return true
		}
	}
	return false
}

// names returns the distinct names of the rules keep wants, sorted.
func (p Policy) names(keep func(Rule) bool) []string {
	var out []string
	for _, c := range []Chain{p.Input, p.Output} {
		for _, r := range c.Rules {
			if keep(r) {
				out = append(append(out, r.From.Names...), r.To.Names...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// HasNames reports whether the rule matches a name on either side.
func (r Rule) HasNames() bool { return len(r.From.Names) > 0 || len(r.To.Names) > 0 }

// tooManyNames is the error of the first name over MaxNamesPerContainer,
// in the label where it was written.
func tooManyNames(key, value string, at nameAt, total int) *Error {
	return &Error{
		Key: key, Value: value, Offset: at.off, Token: at.raw,
		Msg: fmt.Sprintf("name %s is name number %d of the container, at most %d are allowed (%d in all)",
			quoteTok(at.raw), MaxNamesPerContainer+1, MaxNamesPerContainer, total),
		Hint: "every name is resolved again and again; use fewer names, or addresses or prefixes",
		Err:  ErrTooManyNames,
	}
}
