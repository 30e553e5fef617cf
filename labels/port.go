package labels

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// String prints the range in the grammar: "80" or "8000-8100".
func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return strconv.Itoa(int(r.Lo)) + "-" + strconv.Itoa(int(r.Hi))
}

// parsePortList parses PORT[,PORT...] written at offset off of the rule,
// where PORT is 1..65535 or LO-HI. Ports are decimal digits only (no
// service names, no sign); leading zeros are allowed.
func (p *ruleParser) parsePortList(s string, off int) ([]PortRange, bool) {
	var out []PortRange
	ok := true
	pos := off
	for _, e := range strings.Split(s, ",") {
		eoff := pos
		pos += len(e) + 1
		if e == "" {
			p.fail(eoff, e, ErrValue, fmt.Sprintf("empty element in port list %s", quoteTok(s)), "")
			ok = false
			continue
		}
		r, good := p.parsePortRange(e, eoff)
		if !good {
			ok = false
			continue
		}
		out = append(out, r)
	}
	return out, ok
}

func (p *ruleParser) parsePortRange(e string, off int) (PortRange, bool) {
	loText, hiText, isRange := strings.Cut(e, "-")
	lo, ok := p.parsePort(loText, off)
	if !isRange {
		return PortRange{Lo: lo, Hi: lo}, ok
	}
	hi, hiOK := p.parsePort(hiText, off+len(loText)+1)
	if !ok || !hiOK {
		return PortRange{}, false
	}
	if lo > hi {
		p.fail(off, e, ErrValue, fmt.Sprintf("reversed port range %s", quoteTok(e)), fmt.Sprintf("write %d-%d", hi, lo))
		return PortRange{}, false
	}
	return PortRange{Lo: lo, Hi: hi}, true
}

func (p *ruleParser) parsePort(s string, off int) (uint16, bool) {
	if !isDigits(s) {
		if s == "" {
			p.fail(off, s, ErrValue, "missing port number in range", "")
		} else {
			p.fail(off, s, ErrValue, fmt.Sprintf("invalid port %s", quoteTok(s)), "a port is a number 1..65535, a range is LO-HI")
		}
		return 0, false
	}
	n, ok := parseDecimal(s, 65535)
	if !ok || n == 0 {
		p.fail(off, s, ErrValue, fmt.Sprintf("port %s out of range", SafeText(s, maxQuotedToken)), "ports are 1..65535")
		return 0, false
	}
	return uint16(n), true
}

// canonicalPorts sorts ranges and joins those that overlap or touch
// (80,81,82 → 80-82), so two spellings of one port set compare equal.
func canonicalPorts(rs []PortRange) []PortRange {
	if len(rs) == 0 {
		return nil
	}
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b PortRange) int {
		if a.Lo != b.Lo {
			return int(a.Lo) - int(b.Lo)
		}
		return int(a.Hi) - int(b.Hi)
	})
	out := sorted[:1]
	for _, r := range sorted[1:] {
		last := &out[len(out)-1]
		if int(r.Lo) <= int(last.Hi)+1 {
			last.Hi = max(last.Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// formatPorts prints a port list in the grammar.
func formatPorts(rs []PortRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}
