package nft

import (
	"strconv"
	"testing"

	"github.com/dcfw/dcfw/internal/testnet"
	"github.com/dcfw/dcfw/labels"
)

func benchConn(b *testing.B) *Conn {
	h := testnet.NewNS(b, "bench")
	c, err := Dial(h.Fd())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkApplyNoChange: the common reconcile case, a live table equal to
// the desired one (read, compare, write nothing).
func BenchmarkApplyNoChange(b *testing.B) {
	for _, size := range []struct {
		name string
		tbl  func(testing.TB) *Table
	}{
		{"web", func(tb testing.TB) *Table {
			tbl, _ := Compile(policyCases[1].policy, testID)
			return tbl
		}},
		{"1000rules", func(tb testing.TB) *Table { return largeTable(tb, 5) }},
	} {
		b.Run(size.name, func(b *testing.B) {
			c := benchConn(b)
			tbl := size.tbl(b)
			if _, err := c.Apply(tbl, false); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				res, err := c.Apply(tbl, false)
				if err != nil || res.Changed() {
					b.Fatal(res, err)
				}
			}
		})
	}
}

// BenchmarkApplyRuleChange: one label rule changed, the chain rewritten.
func BenchmarkApplyRuleChange(b *testing.B) {
	c := benchConn(b)
	tables := make([]*Table, 2)
	for i := range tables {
		tables[i], _ = Compile(enabled(labels.Deny, labels.Allow, []labels.Rule{
			{Action: labels.Allow, Proto: labels.TCP, To: labels.Endpoint{Ports: ports(strconv.Itoa(80 + i))}},
		}, nil), testID)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := c.Apply(tables[i%2], false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyFirst1000: creating a table of more than 1,000 rules.
func BenchmarkApplyFirst1000(b *testing.B) {
	c := benchConn(b)
	tbl := largeTable(b, 5)
	for b.Loop() {
		if _, err := c.Apply(tbl, false); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := c.Remove(false); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkCompile: compiling the 1,000-rule policy (pure).
func BenchmarkCompile(b *testing.B) {
	largeTable(b, 5)
	for b.Loop() {
		largeTable(b, 5)
	}
}
