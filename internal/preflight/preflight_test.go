package preflight

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/netnsutil"
	"github.com/dcfw/dcfw/nft"
)

// fakeProbes succeed, with every capability present, unless told otherwise.
func fakeProbes() probes {
	return probes{
		effectiveCaps:    func() (uint64, error) { return 1<<capNetAdmin | 1<<capSysAdmin | 1<<capSysPtrace, nil },
		hostPIDNamespace: func(string) error { return nil },
		openHostNetNS:    func(string) error { return nil },
		setnsSelf:        func() error { return nil },
		listTables:       func() error { return nil },
		mountOf:          func(string) (netnsutil.Mount, error) { return netnsutil.Mount{Point: "/", Propagates: true}, nil },
		sameMountNS:      func(string) (bool, error) { return true, nil },
	}
}

func eperm(op string) error { return os.NewSyscallError(op, unix.EPERM) }

func TestRunAllGood(t *testing.T) {
	problems, warnings := run(context.Background(), Config{ProcDir: "/proc"}, fakeProbes())
	if len(problems) != 0 || len(warnings) != 0 {
		t.Fatalf("problems %v, warnings %v; want none", problems, warnings)
	}
}

// Each refused operation names its capability: missing from the set, the
// fix is to add it; present, the fix points at what else refuses.
func TestRunNamesTheCapability(t *testing.T) {
	tests := []struct {
		capability int
		fail       func(p *probes)
	}{
		{capSysPtrace, func(p *probes) {
			p.openHostNetNS = func(string) error {
				return fmt.Errorf("/proc/1/ns/net: %w (%v)", netnsutil.ErrPermission, unix.EACCES)
			}
		}},
		{capSysAdmin, func(p *probes) { p.setnsSelf = func() error { return eperm("setns") } }},
		{capNetAdmin, func(p *probes) { p.listTables = func() error { return fmt.Errorf("list: %w", eperm("recvmsg")) } }},
	}
	for _, tt := range tests {
		name := capNames[tt.capability]
		short := strings.TrimPrefix(name, "CAP_")
		for _, present := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/present=%v", name, present), func(t *testing.T) {
				p := fakeProbes()
				tt.fail(&p)
				if !present {
					all, _ := p.effectiveCaps()
					p.effectiveCaps = func() (uint64, error) { return all &^ (1 << tt.capability), nil }
				}
				problems, _ := run(context.Background(), Config{ProcDir: "/proc"}, p)
				if len(problems) != 1 {
					t.Fatalf("problems %v, want exactly one", problems)
				}
				got := problems[0]
				if got.Check != name {
					t.Errorf("check %q, want %q", got.Check, name)
				}
				msg := got.Error()
				want := []string{"missing capability " + name, "cap_add: [" + short + "]", "--cap-add " + short}
				if present {
					want = []string{"although dcfw has " + name, "apparmor:unconfined"}
				}
				for _, w := range want {
					if !strings.Contains(msg, w) {
						t.Errorf("message lacks %q:\n%s", w, msg)
					}
				}
				if !errors.Is(got, unix.EPERM) && !errors.Is(got, netnsutil.ErrPermission) {
					t.Errorf("problem does not wrap the kernel's answer: %v", got)
				}
			})
		}
	}
}

// Without the host's PID namespace the host's init cannot be told from a
// container's, so the SYS_PTRACE check is not made (it would mislead).
func TestRunWithoutHostPIDNamespace(t *testing.T) {
	p := fakeProbes()
	p.hostPIDNamespace = func(string) error { return errors.New("PID 2 is not kthreadd") }
	p.openHostNetNS = func(string) error {
		t.Error("host namespace probed although the PID namespace is not the host's")
		return nil
	}
	problems, _ := run(context.Background(), Config{ProcDir: "/proc"}, p)
	if len(problems) != 1 || problems[0].Check != "pid" || !strings.Contains(problems[0].Error(), "pid: host") {
		t.Fatalf("problems %v, want one about pid: host", problems)
	}
}

func TestRunReportsEveryProblem(t *testing.T) {
	p := fakeProbes()
	p.effectiveCaps = func() (uint64, error) { return 0, nil }
	p.openHostNetNS = func(string) error { return netnsutil.ErrPermission }
	p.setnsSelf = func() error { return eperm("setns") }
	p.listTables = func() error { return eperm("recvmsg") }
	engine := func(context.Context) error {
		return &os.PathError{Op: "dial", Path: "/var/run/docker.sock", Err: syscall.ENOENT}
	}
	problems, _ := run(context.Background(), Config{ProcDir: "/proc", Engine: engine, EngineHost: "unix:///var/run/docker.sock"}, p)
	var checks []string
	for _, pr := range problems {
		checks = append(checks, pr.Check)
	}
	if got, want := strings.Join(checks, ","), "docker,CAP_SYS_PTRACE,CAP_SYS_ADMIN,CAP_NET_ADMIN"; got != want {
		t.Fatalf("checks %s, want %s", got, want)
	}
}

func TestEngineCheck(t *testing.T) {
	refused := &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name      string
		answers   []error // one per call; the last repeats
		wantCalls int     // 0: at least 2
		wantFix   string  // "" : no problem
	}{
		{"up", []error{nil}, 1, ""},
		{"socket missing: at once", []error{&os.PathError{Op: "dial", Path: "/x.sock", Err: syscall.ENOENT}}, 1, "mount the engine's socket"},
		{"no permission: at once", []error{&os.PathError{Op: "dial", Path: "/x.sock", Err: syscall.EACCES}}, 1, "run dcfw as root"},
		{"starting, then up", []error{refused, refused, nil}, 3, ""},
		{"never up", []error{refused}, 0, "start the Docker engine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, waited := 0, 0
			cfg := Config{
				EngineHost: "unix:///x.sock",
				EngineWait: 2 * time.Second,
				Engine: func(context.Context) error {
					err := tt.answers[min(calls, len(tt.answers)-1)]
					calls++
					return err
				},
				Waiting: func(error) { waited++ },
			}
			p := checkEngine(context.Background(), cfg)
			switch {
			case tt.wantFix == "" && p != nil:
				t.Fatalf("problem %v, want none", p)
			case tt.wantFix != "" && p == nil:
				t.Fatalf("no problem, want one")
			case p != nil && !strings.Contains(p.Error(), tt.wantFix):
				t.Errorf("message lacks %q: %v", tt.wantFix, p)
			}
			if tt.wantCalls > 0 && calls != tt.wantCalls {
				t.Errorf("%d calls, want %d", calls, tt.wantCalls)
			}
			if tt.wantCalls == 0 && calls < 2 {
				t.Errorf("%d calls: never retried", calls)
			}
			if calls > 1 && waited != 1 {
				t.Errorf("Waiting called %d times, want once", waited)
			}
		})
	}
}

func TestEngineCheckStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := checkEngine(ctx, Config{EngineWait: time.Hour, Engine: func(ctx context.Context) error { return ctx.Err() }})
	if p == nil || !errors.Is(p, context.Canceled) {
		t.Fatalf("problem %v, want one wrapping context.Canceled", p)
	}
}

func TestHostPIDNamespaceFromStat(t *testing.T) {
	tests := []struct {
		name, stat, wantErr string
	}{
		{"kthreadd", "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0", ""},
		{"a process", "2 (sh) S 1 2 2 0 -1 4194560 0 0 0 0", `"sh", not a kernel thread`},
		{"odd comm", "2 (a) b) S 1 2 2 0 -1 4194560 0 0 0 0", `"a) b", not a kernel thread`},
		{"garbage", "nonsense", "cannot read the process flags"},
		{"missing", "", "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.stat != "" {
				if err := os.Mkdir(filepath.Join(dir, "2"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "2", "stat"), []byte(tt.stat+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := hostPIDNamespace(dir)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNetnsDirWarning(t *testing.T) {
	dir := t.TempDir()
	if w := checkNetnsDir(dir); w != "" {
		t.Errorf("existing directory: warning %q", w)
	}
	if w := checkNetnsDir(filepath.Join(dir, "missing")); !strings.Contains(w, "rslave") {
		t.Errorf("missing directory: warning %q, want the mount to fix it", w)
	}
	f := filepath.Join(dir, "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if w := checkNetnsDir(f); !strings.Contains(w, "not a directory") {
		t.Errorf("file: warning %q", w)
	}
}

// A sandbox directory on a mount that does not propagate warns only when
// dcfw is in a mount namespace of its own (or cannot tell).
func TestNetnsDirPropagationWarning(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		mount    netnsutil.Mount
		mountErr error
		same     bool
		sameErr  error
		warn     bool
	}{
		{name: "container, rslave", mount: netnsutil.Mount{Point: dir, Propagates: true}},
		{name: "container, private", mount: netnsutil.Mount{Point: dir}, warn: true},
		{name: "host, private root", mount: netnsutil.Mount{Point: "/"}, same: true},
		{name: "private, host unknown", mount: netnsutil.Mount{Point: dir}, same: true, sameErr: unix.EACCES, warn: true},
		{name: "mount table unreadable", mountErr: unix.ENOENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fakeProbes()
			p.mountOf = func(path string) (netnsutil.Mount, error) {
				if path != dir {
					t.Errorf("mountOf(%q), want %q", path, dir)
				}
				return tt.mount, tt.mountErr
			}
			p.sameMountNS = func(string) (bool, error) { return tt.same, tt.sameErr }
			_, warnings := run(context.Background(), Config{ProcDir: "/proc", NetnsDir: dir}, p)
			switch {
			case !tt.warn && len(warnings) != 0:
				t.Errorf("warnings %q, want none", warnings)
			case tt.warn && (len(warnings) != 1 || !strings.Contains(warnings[0], "rslave") || !strings.Contains(warnings[0], "on mount "+dir)):
				t.Errorf("warnings %q, want one naming the mount and rslave", warnings)
			}
		})
	}
}

func TestExplainError(t *testing.T) {
	setnsErr := fmt.Errorf("netlink in net:[1]@4: %w", fmt.Errorf("%w: %w", nft.ErrDial, eperm("setns")))
	readErr := fmt.Errorf("%w: get generation: %w", nft.ErrRead, eperm("recvmsg"))
	other := fmt.Errorf("%w: %w", nft.ErrWriteRejected, unix.EINVAL)
	if got := ExplainError(setnsErr); !strings.Contains(got.Error(), "CAP_SYS_ADMIN") || !errors.Is(got, nft.ErrDial) {
		t.Errorf("setns: %v", got)
	}
	if got := ExplainError(readErr); !strings.Contains(got.Error(), "CAP_NET_ADMIN") || !errors.Is(got, nft.ErrRead) {
		t.Errorf("read: %v", got)
	}
	if got := ExplainError(other); got != other {
		t.Errorf("other error changed: %v", got)
	}
	if ExplainError(nil) != nil {
		t.Error("nil changed")
	}
}
