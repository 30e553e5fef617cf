package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/reconcile"
)

// fixedStatus answers every status request with st (or err).
type fixedStatus struct {
	st  reconcile.Status
	err error
}

func (f fixedStatus) Status(context.Context) (reconcile.Status, error) { return f.st, f.err }

func sampleStatus() reconcile.Status {
	n := 4
	return reconcile.Status{LogBlocked: "dcfw", Containers: []reconcile.ContainerStatus{
		{Name: "db", ID: "0123456789ab", Mode: reconcile.ModeLockdown, Input: "lockdown", Output: "lockdown", Path: "pid", Live: reconcile.LiveEqual},
		{Name: "web", ID: "ba9876543210", Mode: reconcile.ModePolicy, Input: "deny", InputRules: 2, Output: "allow", Path: "sandbox",
			Live: reconcile.LiveDiffers, Differences: []string{"chain input: rule missing"}, Blocked: &n},
	}}
}

func TestStatusCommand(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "status.sock")
	stop := serveStatus(context.Background(), zap.NewNop(), sock, fixedStatus{st: sampleStatus()})
	defer stop()
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("socket %v, %v: want one only its owner can use", fi, err)
	}

	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, out string)
	}{
		{"json", []string{"--json", "--status-socket", sock}, nil, func(t *testing.T, out string) {
			var got reconcile.Status
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Containers) != 2 || got.Containers[1].Blocked == nil || *got.Containers[1].Blocked != 4 || got.Containers[1].Live != "differs" {
				t.Errorf("json: %+v", got)
			}
		}},
		{"text, socket from the environment", nil, map[string]string{"DCFW_STATUS_SOCKET": sock}, func(t *testing.T, out string) {
			for _, want := range []string{"CONTAINER", "web", "ba9876543210", "deny (2 rules)", "allow (0 rules)", "sandbox", "differs", " 4\n",
				"db", "lockdown", "2 containers; blocked packets logged by: dcfw", "web differs: chain input: rule missing"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(append([]string{"status"}, tt.args...), env(tt.env), &stdout, &stderr); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			tt.check(t, stdout.String())
		})
	}
}

// A second dcfw leaves a socket that answers alone; one left by a dcfw
// that died is replaced.
func TestStatusSocketOwnership(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "status.sock")
	stop := serveStatus(context.Background(), zap.NewNop(), sock, fixedStatus{st: sampleStatus()})
	stop2 := serveStatus(context.Background(), zap.NewNop(), sock, fixedStatus{err: errors.New("second")})
	stop2()
	if st, err := askStatus(sock); err != nil || len(st.Containers) != 2 {
		t.Errorf("the first dcfw's socket after a second started: %+v, %v", st, err)
	}
	stop()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after stop: %v", err)
	}

	if err := os.WriteFile(sock, nil, 0o600); err != nil { // a stale file
		t.Fatal(err)
	}
	stop = serveStatus(context.Background(), zap.NewNop(), sock, fixedStatus{err: errors.New("loop stopped")})
	defer stop()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"status", "--status-socket", sock}, env(nil), &stdout, &stderr); code != exitError || !strings.Contains(stderr.String(), "loop stopped") {
		t.Errorf("exit %d, stderr %q: want 1 and the daemon's error", code, stderr.String())
	}
	if code := run([]string{"status", "--status-socket", sock + ".none"}, env(nil), &stdout, &stderr); code != exitError || !strings.Contains(stderr.String(), "is dcfw running?") {
		t.Errorf("no daemon: exit %d, stderr %q", code, stderr.String())
	}
}
