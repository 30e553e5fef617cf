package labels

import "slices"

// Equal reports whether e and o match the same addresses, names and ports. Both
// must be canonical (as Parse returns them) for equal sets to compare equal.
// A nil and an empty list are the same.
func (e Endpoint) Equal(o Endpoint) bool {
	return slices.Equal(e.Addrs, o.Addrs) && slices.Equal(e.Names, o.Names) && slices.Equal(e.Ports, o.Ports)
}

// Equal reports whether r and o are the same rule. Label is ignored: it
// records where a rule came from, not what it does, so a rule compares equal
// to its String() parsed again, and a rule moved to another number is still
// the same rule.
func (r Rule) Equal(o Rule) bool {
	return r.Action == o.Action &&
		r.Log == o.Log &&
		r.Iface == o.Iface &&
		r.Proto == o.Proto &&
		r.Family == o.Family &&
		r.From.Equal(o.From) &&
		r.To.Equal(o.To) &&
		r.Comment == o.Comment
}
