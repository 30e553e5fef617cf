package netnsutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMountOf(t *testing.T) {
	dir := t.TempDir()
	netns := filepath.Join(dir, "docker netns") // mountinfo escapes the space
	if err := os.Mkdir(netns, 0o755); err != nil {
		t.Fatal(err)
	}
	esc := strings.ReplaceAll(netns, " ", `\040`)
	root := "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw"
	line := func(id, point, optional string) string {
		return id + " 22 0:4 / " + point + " ro,relatime " + optional + " - tmpfs tmpfs rw"
	}
	tests := []struct {
		name      string
		table     []string
		point     string
		propagate bool
		wantErr   bool
	}{
		{name: "only the root, shared", table: []string{root}, point: "/", propagate: true},
		{name: "bound, rslave", table: []string{root, line("30", esc, "master:5")}, point: netns, propagate: true},
		{name: "bound, rshared", table: []string{root, line("30", esc, "shared:7 master:5")}, point: netns, propagate: true},
		{name: "bound, private", table: []string{root, line("30", esc, "")}, point: netns},
		{name: "private over rslave", table: []string{root, line("30", esc, "master:5"), line("31", esc, "")}, point: netns},
		{name: "a parent bound, private", table: []string{root, line("30", dir, "")}, point: dir},
		{name: "a sibling is no parent", table: []string{root, line("30", netns+"x", "")}, point: "/", propagate: true},
		{name: "nothing holds it", table: []string{line("30", "/elsewhere", "")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mountOf(strings.NewReader(strings.Join(tt.table, "\n")+"\n"), netns)
			switch {
			case tt.wantErr:
				if err == nil {
					t.Fatalf("mount %+v, want an error", m)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if m.Point != tt.point || m.Propagates != tt.propagate {
				t.Errorf("mount %+v, want point %q propagates %v", m, tt.point, tt.propagate)
			}
		})
	}
}

// The real mount table: the root holds "/"; a missing path is an error.
func TestMountOfLive(t *testing.T) {
	m, err := MountOf("/")
	if err != nil {
		t.Fatal(err)
	}
	if m.Point != "/" {
		t.Errorf("mount of / is %q", m.Point)
	}
	if _, err := MountOf(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("MountOf a missing path: no error")
	}
}

// SameMountNS compares the namespace files themselves: a proc directory
// whose PID 1 links to this process's mount namespace is the same, one
// whose PID 1 links to another namespace file is not.
func TestSameMountNS(t *testing.T) {
	for _, tt := range []struct {
		target string
		same   bool
	}{
		{"/proc/self/ns/mnt", true},
		{"/proc/self/ns/net", false},
	} {
		proc := t.TempDir()
		if err := os.MkdirAll(filepath.Join(proc, "1", "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(tt.target, filepath.Join(proc, "1", "ns", "mnt")); err != nil {
			t.Fatal(err)
		}
		same, err := SameMountNS(proc)
		if err != nil || same != tt.same {
			t.Errorf("PID 1's mnt -> %s: same %v, %v; want %v", tt.target, same, err, tt.same)
		}
	}
	if _, err := SameMountNS(t.TempDir()); err == nil {
		t.Error("no PID 1: no error")
	}
}
