package nft

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/labels"
)

// Names in rules (to db, from web, to api.example.com) match the addresses
// the name stands for through a named set of the table, one per name and
// family: `ip daddr @ip_db`, `ip6 daddr @ip6_db`. The rules name the set,
// never its addresses, so when a name's addresses change only the set's
// elements are written (one batch of element additions and deletions):
// the chains, and with them the conntrack mark of conntrack.go, stay as
// they are, and live connections are not decided again. A name that
// stands for nothing has an empty set, which matches nothing.

// Set is a named set of addresses of one family in `table inet dcfw`.
type Set struct {
	Name string
	// For is the name of the rules whose addresses the set holds ("db");
	// "" in a live set (the kernel does not keep it). Not compared.
	For    string
	Family Family // IPv4 or IPv6
	// Elements are the addresses, sorted and unique, all of Family.
	Elements []netip.Addr

	// foreign, in a live set, says why it is not a set dcfw makes (a
	// map, flags, a timeout, elements with a range or expiry): Apply then
	// recreates the table.
	foreign string
}

// Set returns the set named name, or nil.
func (t *Table) Set(name string) *Set {
	if t == nil {
		return nil
	}
	for _, s := range t.Sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// SetChange is what Apply changed in the elements of one set that was
// there already (Result.Sets): the caller logs it per name.
type SetChange struct {
	Set string
	// For is the name of the rules the set is for (Set.For of the desired
	// set): what the caller logs.
	For            string
	Family         Family
	Added, Removed []netip.Addr
}

// maxSetNameLen is the longest set name the kernel takes
// (NFT_SET_MAXNAMELEN without the terminating NUL).
const maxSetNameLen = 255

// NameSet returns the name of the set of name's addresses of family fam:
// "ip_" or "ip6_" and the name. Underscores never occur in names, so set
// names of different names never collide; the few names too long for the
// kernel's limit are cut and get a hash of the whole name.
func NameSet(name string, fam Family) string {
	prefix := "ip_"
	if fam == IPv6 {
		prefix = "ip6_"
	}
	s := prefix + name
	if len(s) <= maxSetNameLen {
		return s
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	suffix := fmt.Sprintf("~%016x", h.Sum64())
	return s[:maxSetNameLen-len(suffix)] + suffix
}

// NewSet returns the set of name's addresses of family fam: the addresses
// of that family among addrs (IPv4-mapped IPv6 addresses count as IPv4),
// sorted and unique.
func NewSet(name string, fam Family, addrs []netip.Addr) *Set {
	s := &Set{Name: NameSet(name, fam), For: name, Family: fam}
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if a.IsValid() && (a.Is4() == (fam == IPv4)) {
			s.Elements = append(s.Elements, a)
		}
	}
	slices.SortFunc(s.Elements, netip.Addr.Compare)
	s.Elements = slices.Compact(s.Elements)
	return s
}

// setKeyType is the kernel's data type of the set's elements.
func (s *Set) setKeyType() nftables.SetDatatype {
	if s.Family == IPv6 {
		return nftables.TypeIP6Addr
	}
	return nftables.TypeIPAddr
}

func (s *Set) typeName() string { return s.setKeyType().Name }

// appendSetLookup appends `ip saddr @set` (or daddr, or ip6): the whole
// address loaded and looked up in the set, as nft generates it. The
// lookup names the set without its batch ID, so that what the kernel dumps
// reads back the same.
func appendSetLookup(es []expr.Any, fam Family, set string, src bool) []expr.Any {
	if set == "" {
		return es
	}
	offset, n := uint32(ip4DaddrOffset), uint32(4)
	switch {
	case fam == IPv4 && src:
		offset = ip4SaddrOffset
	case fam == IPv6 && src:
		offset, n = ip6SaddrOffset, 16
	case fam == IPv6:
		offset, n = ip6DaddrOffset, 16
	}
	return append(es,
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: n},
		&expr.Lookup{SourceRegister: reg1, SetName: set},
	)
}

// setLookup decodes an optional set lookup of a source or destination
// address (see appendSetLookup).
func (d *decoder) setLookup(fam Family, src bool, set *string) bool {
	pl, ok := d.peek(0).(*expr.Payload)
	if !ok || pl.Base != expr.PayloadBaseNetworkHeader || pl.OperationType != expr.PayloadLoad {
		return true
	}
	lk, ok := d.peek(1).(*expr.Lookup)
	if !ok {
		return true
	}
	if fam == AnyFamily || lk.Invert || lk.IsDestRegSet || lk.SetName == "" {
		return false // a lookup dcfw does not make: the rule is foreign
	}
	wpl := appendSetLookup(nil, fam, lk.SetName, src)[0].(*expr.Payload)
	if pl.Offset != wpl.Offset {
		return true // maybe the other address
	}
	if pl.Len != wpl.Len {
		return false
	}
	*set = lk.SetName
	d.i += 2
	return true
}

// write renders the set as nft lists it.
func (s *Set) write(b *strings.Builder) {
	fmt.Fprintf(b, "\tset %s {\n\t\ttype %s\n", s.Name, s.typeName())
	if s.foreign != "" {
		fmt.Fprintf(b, "\t\t# not a dcfw set: %s\n", s.foreign)
	}
	if len(s.Elements) > 0 {
		parts := make([]string, len(s.Elements))
		for i, a := range s.Elements {
			parts[i] = a.String()
		}
		fmt.Fprintf(b, "\t\telements = { %s }\n", strings.Join(parts, ", "))
	}
	b.WriteString("\t}\n")
}

// setPlan is what a plan writes to the sets of the table.
type setPlan struct {
	addSets []*Set      // desired sets to create, with their elements
	delSets []*Set      // live sets to delete (after the chains that use them are flushed)
	changes []SetChange // element additions and deletions of sets that stay
}

func (sp *setPlan) empty() bool {
	return len(sp.addSets)+len(sp.delSets)+len(sp.changes) == 0
}

// writes counts the netlink messages of the set part of a batch.
func (sp *setPlan) writes() int {
	n := len(sp.delSets)
	for _, s := range sp.addSets {
		n++
		if len(s.Elements) > 0 {
			n++
		}
	}
	for _, c := range sp.changes {
		if len(c.Added) > 0 {
			n++
		}
		if len(c.Removed) > 0 {
			n++
		}
	}
	return n
}

// diffSets compares the sets of the desired and the live table. recreate
// is set when a live set that is wanted has another type or is not one
// dcfw makes: a set in use by rules cannot be changed into another, so the
// table is made anew.
func diffSets(desired, live *Table) (sp setPlan, differences []string, recreate bool) {
	for _, l := range live.Sets {
		if desired.Set(l.Name) == nil {
			sp.delSets = append(sp.delSets, l)
			differences = append(differences, fmt.Sprintf("set %s: not wanted (%s)", l.Name, count(len(l.Elements), "element")))
		}
	}
	for _, d := range desired.Sets {
		l := live.Set(d.Name)
		switch {
		case l == nil:
			sp.addSets = append(sp.addSets, d)
			differences = append(differences, fmt.Sprintf("set %s missing", d.Name))
			continue
		case l.foreign != "":
			differences = append(differences, fmt.Sprintf("set %s: not a dcfw set (%s)", d.Name, l.foreign))
			recreate = true
			continue
		case l.Family != d.Family:
			differences = append(differences, fmt.Sprintf("set %s: type %s, want %s", d.Name, l.typeName(), d.typeName()))
			recreate = true
			continue
		}
		added, removed := addrDiff(l.Elements, d.Elements)
		if len(added)+len(removed) > 0 {
			sp.changes = append(sp.changes, SetChange{Set: d.Name, For: d.For, Family: d.Family, Added: added, Removed: removed})
			differences = append(differences, fmt.Sprintf("set %s: %s added, %s removed",
				d.Name, count(len(added), "element"), count(len(removed), "element")))
		}
	}
	return sp, differences, recreate
}

// addrDiff returns the addresses of want not in have, and those of have
// not in want; both inputs sorted and unique.
func addrDiff(have, want []netip.Addr) (added, removed []netip.Addr) {
	i, j := 0, 0
	for i < len(have) || j < len(want) {
		switch {
		case j == len(want) || i < len(have) && have[i].Less(want[j]):
			removed = append(removed, have[i])
			i++
		case i == len(have) || want[j].Less(have[i]):
			added = append(added, want[j])
			j++
		default:
			i++
			j++
		}
	}
	return added, removed
}

func libSet(t *nftables.Table, s *Set) *nftables.Set {
	return &nftables.Set{Table: t, Name: s.Name, KeyType: s.setKeyType(), KeyByteOrder: binaryutil.BigEndian}
}

func setElements(addrs []netip.Addr) []nftables.SetElement {
	out := make([]nftables.SetElement, len(addrs))
	for i, a := range addrs {
		out[i] = nftables.SetElement{Key: a.AsSlice()}
	}
	return out
}

// writeSetDeletions adds the deletion of sets to the batch: after the
// chains are flushed (their rules held the sets), before anything is added.
func writeSetDeletions(cc *nftables.Conn, t *nftables.Table, sp *setPlan) {
	for _, s := range sp.delSets {
		cc.DelSet(libSet(t, s))
	}
}

// writeSetAdditions adds the creation of sets and the element changes to
// the batch: before the rules that look them up.
func writeSetAdditions(cc *nftables.Conn, t *nftables.Table, sp *setPlan) error {
	for _, s := range sp.addSets {
		if err := cc.AddSet(libSet(t, s), setElements(s.Elements)); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
	}
	for _, c := range sp.changes {
		s := libSet(t, &Set{Name: c.Set, Family: c.Family})
		if len(c.Removed) > 0 {
			if err := cc.SetDeleteElements(s, setElements(c.Removed)); err != nil {
				return fmt.Errorf("set %s: %w", c.Set, err)
			}
		}
		if len(c.Added) > 0 {
			if err := cc.SetAddElements(s, setElements(c.Added)); err != nil {
				return fmt.Errorf("set %s: %w", c.Set, err)
			}
		}
	}
	return nil
}

// NFTA_SET_EXPR and NFTA_SET_EXPRESSIONS (linux/netfilter/nf_tables.h),
// which golang.org/x/sys/unix does not define.
const (
	nftaSetExpr        = 0x11
	nftaSetExpressions = 0x12
)

// readSets dumps the sets of `table inet dcfw` and their elements.
func (c *Conn) readSets() (sets []*Set, interrupted bool, err error) {
	msgs, err := c.request(unix.NFT_MSG_GETSET, netlink.Dump, unix.NFPROTO_INET, []netlink.Attribute{
		{Type: unix.NFTA_SET_TABLE, Data: cstring(TableName)},
	})
	if errors.Is(err, unix.ENOENT) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("dump sets: %w", err)
	}
	for _, m := range msgs {
		interrupted = interrupted || m.Header.Flags&netlink.DumpInterrupted != 0
		s, table := parseSet(msgAttrs(m))
		if table == TableName && s.Name != "" {
			sets = append(sets, s)
		}
	}
	for _, s := range sets {
		msgs, err := c.request(unix.NFT_MSG_GETSETELEM, netlink.Dump, unix.NFPROTO_INET, []netlink.Attribute{
			{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: cstring(TableName)},
			{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: cstring(s.Name)},
		})
		if errors.Is(err, unix.ENOENT) {
			interrupted = true // deleted since the set dump
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("dump elements of set %s: %w", s.Name, err)
		}
		for _, m := range msgs {
			interrupted = interrupted || m.Header.Flags&netlink.DumpInterrupted != 0
			parseSetElems(msgAttrs(m), s)
		}
		slices.SortFunc(s.Elements, netip.Addr.Compare)
	}
	slices.SortFunc(sets, func(a, b *Set) int { return cmp.Compare(a.Name, b.Name) })
	return sets, interrupted, nil
}

// parseSet reads a set's attributes; anything a dcfw set does not have
// (flags, a timeout, a data type, expressions) makes it foreign.
func parseSet(as []attr) (s *Set, table string) {
	s = &Set{}
	var keyType, keyLen uint32
	for _, a := range as {
		switch a.typ {
		case unix.NFTA_SET_TABLE:
			table = attrString(a.data)
		case unix.NFTA_SET_NAME:
			s.Name = attrString(a.data)
		case unix.NFTA_SET_KEY_TYPE:
			keyType = be32(a.data)
		case unix.NFTA_SET_KEY_LEN:
			keyLen = be32(a.data)
		case unix.NFTA_SET_FLAGS:
			if f := be32(a.data); f != 0 {
				s.foreign = fmt.Sprintf("flags 0x%x", f)
			}
		case unix.NFTA_SET_DATA_TYPE, unix.NFTA_SET_TIMEOUT, unix.NFTA_SET_OBJ_TYPE, nftaSetExpr, nftaSetExpressions:
			s.foreign = fmt.Sprintf("attribute %d", a.typ)
		case unix.NFTA_SET_DESC:
			// Always dumped; a size in it caps the elements.
			if ds, _ := parseAttrs(a.data); len(ds) > 0 {
				s.foreign = "size or fields"
			}
		}
	}
	switch {
	case keyType == nftables.TypeIPAddr.GetNFTMagic() && keyLen == 4:
		s.Family = IPv4
	case keyType == nftables.TypeIP6Addr.GetNFTMagic() && keyLen == 16:
		s.Family = IPv6
	default:
		s.Family = IPv4
		s.foreign = fmt.Sprintf("key type %d length %d", keyType, keyLen)
	}
	return s, table
}

// parseSetElems adds the elements of one element dump message to s; an
// element with anything besides its key makes s foreign.
func parseSetElems(as []attr, s *Set) {
	for _, a := range as {
		if a.typ != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		elems, _ := parseAttrs(a.data)
		for _, e := range elems {
			fields, _ := parseAttrs(e.data)
			var key []byte
			for _, f := range fields {
				switch f.typ {
				case unix.NFTA_SET_ELEM_KEY:
					vs, _ := parseAttrs(f.data)
					for _, v := range vs {
						if v.typ == unix.NFTA_DATA_VALUE {
							key = v.data
						}
					}
				case unix.NFTA_SET_ELEM_FLAGS:
					if be32(f.data) != 0 {
						s.foreign = "element flags"
					}
				default:
					s.foreign = fmt.Sprintf("element attribute %d", f.typ)
				}
			}
			a, ok := netip.AddrFromSlice(key)
			if !ok || a.Is4() != (s.Family == IPv4) {
				s.foreign = fmt.Sprintf("element of %d bytes", len(key))
				continue
			}
			s.Elements = append(s.Elements, a)
		}
	}
}

func be32(b []byte) uint32 {
	if len(b) != 4 {
		return 0
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// copySets deep-copies sets.
func copySets(ss []*Set) []*Set {
	var out []*Set
	for _, s := range ss {
		c := *s
		c.Elements = slices.Clone(s.Elements)
		out = append(out, &c)
	}
	return out
}

// NameAddrs are the addresses each name of a policy stands for, as the
// caller resolved them in the container's namespace. A name that is not in
// the map, or has no address of a family, gets an empty set for it: it
// matches nothing.
type NameAddrs map[string][]netip.Addr

// nameSets makes the (empty) sets the compiled chains look up, sorted by
// name: the sets are read off the rules expand made, so the families of a
// name's sets are those of the rules that use it, by construction.
func nameSets(p labels.Policy, chains ...*Chain) []*Set {
	type origin struct {
		name string
		fam  Family
	}
	bySet := map[string]origin{}
	for _, n := range p.Names() {
		for _, f := range []Family{IPv4, IPv6} {
			bySet[NameSet(n, f)] = origin{n, f}
		}
	}
	var out []*Set
	seen := map[string]bool{}
	for _, c := range chains {
		for _, r := range c.Rules {
			for _, set := range []string{r.SaddrSet, r.DaddrSet} {
				if o, ok := bySet[set]; ok && !seen[set] {
					seen[set] = true
					out = append(out, NewSet(o.name, o.fam, nil))
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b *Set) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// WithAddrs returns t with its sets holding addrs' addresses of their
// names: a copy sharing t's chains (which do not depend on addresses), so
// one compiled table serves every namespace with the same labels.
func (t *Table) WithAddrs(addrs NameAddrs) *Table {
	out := *t
	out.Sets = make([]*Set, len(t.Sets))
	for i, s := range t.Sets {
		out.Sets[i] = NewSet(s.For, s.Family, addrs[s.For])
	}
	return &out
}

// addrMatch is one element of an address list to expand over: a prefix
// (zero: any), or the set of a name.
type addrMatch struct {
	prefix netip.Prefix
	set    string
}

// addrMatches returns the matches of an endpoint's addresses and names in
// a rule of family fam: the addresses (see orAny), then one set per name;
// one "any" when there are neither.
func addrMatches(ep labels.Endpoint, fam Family) []addrMatch {
	if len(ep.Names) == 0 {
		ps := orAny(ep.Addrs)
		out := make([]addrMatch, len(ps))
		for i, p := range ps {
			out[i] = addrMatch{prefix: p}
		}
		return out
	}
	var out []addrMatch
	for _, p := range ep.Addrs {
		out = append(out, addrMatch{prefix: orAny([]netip.Prefix{p})[0]})
	}
	for _, n := range ep.Names {
		out = append(out, addrMatch{set: NameSet(n, fam)})
	}
	return out
}

type familyProto struct {
	family Family
	proto  int16
}

// familyProtos pairs every family with every protocol, families outer.
func familyProtos(fams []Family, protos []int16) []familyProto {
	out := make([]familyProto, 0, len(fams)*len(protos))
	for _, f := range fams {
		for _, p := range protos {
			out = append(out, familyProto{f, p})
		}
	}
	return out
}
