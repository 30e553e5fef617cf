package preflight

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dcfw/dcfw/netnsutil"
)

func TestParseMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		mode Mode
		auto bool
	}{{"auto", ModePID, true}, {"pid", ModePID, false}, {"sandbox", ModeSandbox, false}} {
		m, auto, err := ParseMode(tt.in)
		if err != nil || m != tt.mode || auto != tt.auto {
			t.Errorf("ParseMode(%q) = %v, %v, %v; want %v, %v", tt.in, m, auto, err, tt.mode, tt.auto)
		}
		if !auto && m.String() != tt.in {
			t.Errorf("%v.String() = %q, want %q", m, m.String(), tt.in)
		}
	}
	for _, bad := range []string{"", "Sandbox", "swarm", "pid "} {
		if _, _, err := ParseMode(bad); err == nil || !strings.Contains(err.Error(), "--namespaces") {
			t.Errorf("ParseMode(%q): err %v, want one naming --namespaces", bad, err)
		}
	}
}

// Auto chooses by the PID namespace --proc-dir shows, and says why when it
// is not the host's.
func TestDetectMode(t *testing.T) {
	p := fakeProbes()
	if m, err := detectMode("/proc", p); m != ModePID || err != nil {
		t.Errorf("host PID namespace: %v, %v; want pid", m, err)
	}
	notHost := errors.New("PID 2 in /proc is sh, not a kernel thread")
	p.hostPIDNamespace = func(string) error { return notHost }
	if m, err := detectMode("/proc", p); m != ModeSandbox || !errors.Is(err, notHost) {
		t.Errorf("own PID namespace: %v, %v; want sandbox with the reason", m, err)
	}
}

func checks(problems []*Problem) []string {
	var out []string
	for _, p := range problems {
		out = append(out, p.Check)
	}
	return out
}

// In sandbox mode neither the host's PID namespace nor CAP_SYS_PTRACE is
// checked, the sandbox directory is; without the host's processes dcfw
// runs, with one warning about the first packet.
func TestRunSandboxMode(t *testing.T) {
	dir := t.TempDir()
	p := fakeProbes()
	p.hostPIDNamespace = func(string) error { return errors.New("not the host's") }
	p.openHostNetNS = func(string) error { return errors.New("must not be asked") }
	p.effectiveCaps = func() (uint64, error) { return 1<<capNetAdmin | 1<<capSysAdmin, nil }
	p.sameMountNS = func(string) (bool, error) { return false, nil }
	cfg := Config{ProcDir: "/proc", NetnsDir: dir, Mode: ModeSandbox}

	problems, warnings := run(context.Background(), cfg, p)
	if len(problems) != 0 {
		t.Fatalf("problems %v, want none", problems)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "not before their first packet") ||
		!strings.Contains(warnings[0], "/proc:/host/proc:ro") {
		t.Errorf("warnings %q, want one about the first packet with the fix", warnings)
	}

	// With the host's processes visible: nothing to say.
	p.hostPIDNamespace = func(string) error { return nil }
	if problems, warnings := run(context.Background(), cfg, p); len(problems)+len(warnings) != 0 {
		t.Errorf("host processes visible: problems %v, warnings %q; want none", problems, warnings)
	}
}

// A task without the sandbox directory, or with it but without
// propagation, cannot protect what starts after it: one problem, one line.
func TestRunSandboxModeDirectory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	private := func(p *probes) {
		p.mountOf = func(string) (netnsutil.Mount, error) { return netnsutil.Mount{Point: "/var/run/docker/netns"}, nil }
		p.sameMountNS = func(string) (bool, error) { return false, nil }
	}
	for _, tt := range []struct {
		name   string
		dir    string
		probes func(*probes)
		want   []string
	}{
		{"empty flag", "", nil, []string{"--netns-dir is empty", "rslave"}},
		{"missing", filepath.Join(dir, "none"), nil, []string{"is not visible", "no such file", "bind-propagation=rslave"}},
		{"not a directory", file, nil, []string{"is not a directory"}},
		{"private", dir, private, []string{"propagation is private", "never be protected", "ro,rslave"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := fakeProbes()
			if tt.probes != nil {
				tt.probes(&p)
			}
			problems, _ := run(context.Background(), Config{ProcDir: "/proc", NetnsDir: tt.dir, Mode: ModeSandbox}, p)
			if got := checks(problems); !slices.Equal(got, []string{"netns-dir"}) {
				t.Fatalf("checks %v, want [netns-dir]: %v", got, problems)
			}
			msg := problems[0].Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("message spans lines: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q: %s", w, msg)
				}
			}
		})
	}
	// On the host itself (PID 1's mount namespace) propagation does not
	// matter; in a PID namespace of dcfw's own, PID 1 is dcfw, and sharing
	// its mount namespace says nothing.
	p := fakeProbes()
	private(&p)
	p.sameMountNS = func(string) (bool, error) { return true, nil }
	if problems, _ := run(context.Background(), Config{ProcDir: "/proc", NetnsDir: dir, Mode: ModeSandbox}, p); len(problems) != 0 {
		t.Errorf("host's mount namespace: %v", problems)
	}
	p.hostPIDNamespace = func(string) error { return errors.New("not the host's") }
	if problems, _ := run(context.Background(), Config{ProcDir: "/proc", NetnsDir: dir, Mode: ModeSandbox}, p); len(problems) != 1 {
		t.Errorf("own PID namespace, private mount: problems %v, want the propagation one", problems)
	}
}

// The capabilities sandbox mode needs are still checked.
func TestRunSandboxModeCapabilities(t *testing.T) {
	p := fakeProbes()
	p.setnsSelf = func() error { return eperm("setns") }
	p.listTables = func() error { return eperm("recvmsg") }
	p.effectiveCaps = func() (uint64, error) { return 0, nil }
	problems, _ := run(context.Background(), Config{ProcDir: "/proc", NetnsDir: t.TempDir(), Mode: ModeSandbox}, p)
	if got := checks(problems); !slices.Equal(got, []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}) {
		t.Errorf("checks %v, want CAP_SYS_ADMIN and CAP_NET_ADMIN only", got)
	}
}
