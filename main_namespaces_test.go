package main

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dcfw/dcfw/internal/preflight"
	"github.com/dcfw/dcfw/reconcile"
)

// The mode decides how namespaces are opened; in sandbox mode the finder
// runs only where the host's processes are visible, and its absence is
// logged with the reason.
func TestNamespacesFor(t *testing.T) {
	hostProcs := preflight.HostProcesses("/proc") == nil
	for _, tc := range []struct {
		name       string
		mode       preflight.Mode
		procDir    string
		wantSbx    bool // SandboxNamespaces, not ProcNamespaces
		wantFinder bool
		wantOff    bool // "sandbox path off" logged
		needsHost  bool
	}{
		{"pid", preflight.ModePID, "/proc", false, true, false, false},
		{"sandbox without the host's processes", preflight.ModeSandbox, t.TempDir(), true, false, true, false},
		{"sandbox with the host's processes", preflight.ModeSandbox, "/proc", true, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsHost && !hostProcs {
				t.Skip("/proc does not show the host's PID namespace here")
			}
			core, logs := observer.New(zapcore.InfoLevel)
			ns, finder := namespacesFor(zap.New(core), tc.mode, options{procDir: tc.procDir, netnsDir: t.TempDir()})
			sns, isSbx := ns.(*reconcile.SandboxNamespaces)
			if isSbx != tc.wantSbx {
				t.Errorf("namespaces %T", ns)
			}
			if isSbx && sns.HostProcs != tc.needsHost {
				t.Errorf("HostProcs %v", sns.HostProcs)
			}
			if (finder != nil) != tc.wantFinder {
				t.Errorf("finder %v, want one: %v", finder, tc.wantFinder)
			}
			if off := logs.FilterMessageSnippet("sandbox path off").Len() == 1; off != tc.wantOff {
				t.Errorf("sandbox path off logged: %v, want %v (%v)", off, tc.wantOff, logs.All())
			}
		})
	}
}
