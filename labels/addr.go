package labels

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// addrAt is one parsed address of a list with where it was written, so that
// conflicts found later (IPv4 next to IPv6) can point at it.
type addrAt struct {
	prefix netip.Prefix
	off    int
	raw    string
}

// parseAddrList parses ADDR[,ADDR...] written at offset off of the rule,
// where each ADDR is an address, a prefix or a name (see isAddressElement
// for how they are told apart). It returns the addresses and the names
// (both nil for `any`) and whether the list was valid. Problems go to p,
// each pointing at its element.
func (p *ruleParser) parseAddrList(s string, off int) ([]addrAt, []nameAt, bool) {
	elems := strings.Split(s, ",")
	var out []addrAt
	var names []nameAt
	ok := true
	anyAt := -1
	pos := off
	for _, e := range elems {
		eoff := pos
		pos += len(e) + 1
		switch {
		case e == "":
			p.fail(eoff, e, ErrValue, fmt.Sprintf("empty element in address list %s", quoteTok(s)), "")
			ok = false
		case strings.EqualFold(e, "any"):
			anyAt = eoff
		case isAddressElement(e):
			a, good := p.parseAddr(e, eoff)
			if !good {
				ok = false
				continue
			}
			out = append(out, a)
		default:
			n, good := p.parseName(e, eoff)
			if !good {
				ok = false
				continue
			}
			names = append(names, n)
		}
	}
	if anyAt >= 0 && len(elems) > 1 {
		p.fail(anyAt, s[anyAt-off:anyAt-off+3], ErrValue, fmt.Sprintf("any combined with other addresses in %s", quoteTok(s)),
			"any already means every address")
		return nil, nil, false
	}
	return out, names, ok
}

// parseAddr parses one IPv4 or IPv6 address or prefix. Host bits of a
// prefix are cleared (10.1.2.3/8 is 10.0.0.0/8): that is the network the
// person meant, and the canonical form. Zones and IPv4-mapped IPv6
// addresses are rejected (see the package documentation).
func (p *ruleParser) parseAddr(e string, off int) (addrAt, bool) {
	if i := strings.IndexByte(e, '%'); i >= 0 {
		p.fail(off+i, e[i:], ErrValue, fmt.Sprintf("zone in address %s", quoteTok(e)), "zones are not allowed")
		return addrAt{}, false
	}
	addrPart, bitsPart, hasBits := strings.Cut(e, "/")
	addr, err := netip.ParseAddr(addrPart)
	if err != nil {
		p.fail(off, addrPart, ErrValue, fmt.Sprintf("invalid %s %s", addrKind(addrPart), quoteTok(addrPart)), portSuffixHint(addrPart))
		return addrAt{}, false
	}
	if addr.Is4In6() {
		p.fail(off, addrPart, ErrValue, fmt.Sprintf("IPv4-mapped IPv6 address %s", quoteTok(addrPart)),
			fmt.Sprintf("it never appears in packets; write the IPv4 address %s", addr.Unmap()))
		return addrAt{}, false
	}
	bits := addr.BitLen()
	if hasBits {
		n, ok := uint64(0), isDigits(bitsPart)
		if ok {
			n, ok = parseDecimal(bitsPart, uint64(addr.BitLen()))
		}
		if !ok {
			p.fail(off+len(addrPart), e[len(addrPart):], ErrValue, fmt.Sprintf("invalid prefix length %s", quoteTok(e[len(addrPart):])),
				fmt.Sprintf("%s allows /0 to /%d", familyName(addr), addr.BitLen()))
			return addrAt{}, false
		}
		bits = int(n)
	}
	prefix := netip.PrefixFrom(addr, bits).Masked()
	return addrAt{prefix: prefix, off: off, raw: e}, true
}

// portSuffixHint explains `web:80` or `10.0.0.5:80`, a port written the way
// URLs write it: the grammar has its own place for ports.
func portSuffixHint(s string) string {
	host, port, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(port, ":") || !isDigits(port) || host == "" {
		return ""
	}
	return fmt.Sprintf("a port is written after the list: %s port %s", SafeText(host, maxQuotedToken), port)
}

// addrKind guesses what a malformed address was meant to be, for the message.
func addrKind(s string) string {
	switch {
	case strings.Contains(s, ":"):
		return "IPv6 address"
	case strings.Trim(s, "0123456789.") == "" && s != "":
		return "IPv4 address"
	}
	return "address"
}

func familyName(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// canonicalPrefixes returns the smallest sorted list of prefixes that covers
// exactly the same addresses as ps: duplicates and prefixes inside others
// are dropped and two halves of a network are joined (10.0.0.0/25 and
// 10.0.0.128/25 become 10.0.0.0/24). So two spellings of one address set
// compare equal. IPv4 sorts before IPv6. ps must be masked.
func canonicalPrefixes(ps []netip.Prefix) []netip.Prefix {
	if len(ps) == 0 {
		return nil
	}
	sorted := slices.Clone(ps)
	slices.SortFunc(sorted, comparePrefixByAddr)
	// Sorted by first address, a prefix contained in an earlier one can only
	// be contained in the last one kept: kept prefixes are disjoint.
	out := make([]netip.Prefix, 0, len(sorted))
	for _, p := range sorted {
		if n := len(out); n > 0 && contains(out[n-1], p) {
			continue
		}
		out = append(out, p)
		for n := len(out); n >= 2 && siblings(out[n-2], out[n-1]); n = len(out) {
			parent := netip.PrefixFrom(out[n-2].Addr(), out[n-2].Bits()-1).Masked()
			out = append(out[:n-2], parent)
		}
	}
	return out
}

// comparePrefixByAddr orders by family, then first address, then shorter
// prefix first (so a network comes before the networks inside it).
// netip.Prefix.Compare orders by length first, which is not what merging needs.
func comparePrefixByAddr(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// contains reports whether outer covers all of inner.
func contains(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// siblings reports whether a and b are the two halves of one network.
func siblings(a, b netip.Prefix) bool {
	if a.Bits() != b.Bits() || a.Bits() == 0 || a.Addr().BitLen() != b.Addr().BitLen() || a == b {
		return false
	}
	pa := netip.PrefixFrom(a.Addr(), a.Bits()-1).Masked()
	pb := netip.PrefixFrom(b.Addr(), b.Bits()-1).Masked()
	return pa == pb
}

// formatPrefix prints a host prefix as a plain address, a network as a/len.
func formatPrefix(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// formatAddrs prints an address list in the grammar: the addresses, then
// the names, or "any" when both are empty.
func formatAddrs(ps []netip.Prefix, names []string) string {
	if len(ps) == 0 && len(names) == 0 {
		return "any"
	}
	parts := make([]string, 0, len(ps)+len(names))
	for _, p := range ps {
		parts = append(parts, formatPrefix(p))
	}
	return strings.Join(append(parts, names...), ",")
}
