package nft

import (
	"errors"
	"os"
	"testing"
)

func TestDialErrors(t *testing.T) {
	if _, err := Dial(-1); !errors.Is(err, ErrDial) {
		t.Errorf("Dial(-1): %v, want ErrDial", err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if c, err := Dial(int(f.Fd())); !errors.Is(err, ErrDial) {
		if c != nil {
			c.Close()
		}
		t.Errorf("Dial(/dev/null): %v, want ErrDial", err)
	}
}

func TestApplyRejectsBadTables(t *testing.T) {
	var c Conn // never reaches the kernel
	live := webTable(t)
	live.Chains[0].Rules[0].live = &liveInfo{key: "F", foreign: []string{"counter"}}
	for name, tbl := range map[string]*Table{
		"nil":             nil,
		"duplicate chain": {Chains: []*Chain{{Name: "input"}, {Name: "input"}}},
		"foreign rule":    live,
	} {
		if _, err := c.Apply(tbl, true); err == nil {
			t.Errorf("%s: Apply accepted it", name)
		}
	}
}

func TestClosedConn(t *testing.T) {
	c := &Conn{} // as after Close
	if _, err := c.Read(); !errors.Is(err, ErrRead) {
		t.Errorf("Read: %v", err)
	}
	if _, err := c.Apply(webTable(t), false); !errors.Is(err, ErrRead) {
		t.Errorf("Apply: %v", err)
	}
	if _, err := c.Remove(false); !errors.Is(err, ErrRead) {
		t.Errorf("Remove: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
