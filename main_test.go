package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/dcfw/dcfw/internal/preflight"
	"github.com/dcfw/dcfw/reconcile"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, o options)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, o options) {
				if o.interval != 10*time.Second || o.once || o.dryRun || o.logLevel != zapcore.InfoLevel ||
					o.logFormat != "console" || o.procDir != "/proc" || o.netnsDir != "/var/run/docker/netns" ||
					o.onError != reconcile.Lockdown || o.images != reconcile.ImageLabelsLockdown || o.strict || !o.namespacesAuto ||
					o.logBlocked != reconcile.LogDcfw || o.statusSocket != defaultStatusSocket {
					t.Errorf("defaults: %+v", o)
				}
			},
		},
		{
			name: "flags",
			args: []string{"--interval=3s", "--once", "--dry-run", "--log-level=debug", "--log-format=json",
				"--proc-dir=/host/proc", "--netns-dir=/run/netns", "--on-error=skip", "--only-label=project=shop",
				"--image-labels=trust", "--strict", "--namespaces=sandbox", "--log-blocked=off", "--status-socket=/tmp/s.sock"},
			check: func(t *testing.T, o options) {
				if o.scope != (reconcile.Scope{Key: "project", Value: "shop", HasValue: true}) {
					t.Errorf("scope: %+v", o.scope)
				}
				if o.interval != 3*time.Second || !o.once || !o.dryRun || o.logLevel != zapcore.DebugLevel ||
					o.logFormat != "json" || o.procDir != "/host/proc" || o.netnsDir != "/run/netns" || o.onError != reconcile.Skip ||
					o.images != reconcile.ImageLabelsTrust || !o.strict || o.namespacesAuto || o.namespaces != preflight.ModeSandbox ||
					o.logBlocked != reconcile.LogOff || o.statusSocket != "/tmp/s.sock" {
					t.Errorf("flags: %+v", o)
				}
			},
		},
		{
			name: "environment",
			env: map[string]string{"DCFW_INTERVAL": "30s", "DCFW_ON_ERROR": "skip", "DCFW_DRY_RUN": "true",
				"DCFW_LOG_FORMAT": "json", "DCFW_PROC_DIR": "/hp", "DCFW_IMAGE_LABELS": "trust", "DCFW_STRICT": "true",
				"DCFW_NAMESPACES": "pid", "DCFW_LOG_BLOCKED": "kernel"},
			check: func(t *testing.T, o options) {
				if o.interval != 30*time.Second || o.onError != reconcile.Skip || !o.dryRun || o.logFormat != "json" || o.procDir != "/hp" ||
					o.images != reconcile.ImageLabelsTrust || !o.strict || o.namespacesAuto || o.namespaces != preflight.ModePID ||
					o.logBlocked != reconcile.LogKernel {
					t.Errorf("env: %+v", o)
				}
			},
		},
		{
			name: "command line wins over environment",
			args: []string{"--interval", "5s", "--on-error=lockdown"},
			env:  map[string]string{"DCFW_INTERVAL": "30s", "DCFW_ON_ERROR": "skip"},
			check: func(t *testing.T, o options) {
				if o.interval != 5*time.Second || o.onError != reconcile.Lockdown {
					t.Errorf("precedence: %+v", o)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseFlags(tt.args, env(tt.env), &stderr)
			if err != nil {
				t.Fatalf("parseFlags: %v", err)
			}
			tt.check(t, o)
		})
	}
}

func TestBadFlagsExit2(t *testing.T) {
	tests := []struct {
		args    []string
		env     map[string]string
		mention string
	}{
		{[]string{"--interval=0s"}, nil, "--interval"},
		{[]string{"--interval=soon"}, nil, "interval"},
		{[]string{"--on-error=ignore"}, nil, "--on-error"},
		{[]string{"--log-format=xml"}, nil, "--log-format"},
		{[]string{"--log-level=loud"}, nil, "--log-level"},
		{[]string{"--log-level=fatal"}, nil, "--log-level"},
		{[]string{"--no-such-flag"}, nil, "no-such-flag"},
		{[]string{"extra"}, nil, "unexpected arguments"},
		{nil, map[string]string{"DCFW_INTERVAL": "-1s"}, "--interval"},
		{nil, map[string]string{"DCFW_ONCE": "perhaps"}, "DCFW_ONCE"},
		{nil, map[string]string{"DCFW_ON_ERROR": "later"}, "--on-error"},
		{[]string{"--image-labels=maybe"}, nil, "--image-labels"},
		{nil, map[string]string{"DCFW_IMAGE_LABELS": "Trust"}, "--image-labels"},
		{nil, map[string]string{"DCFW_STRICT": "very"}, "DCFW_STRICT"},
		{[]string{"--only-label==x"}, nil, "--only-label"},
		{[]string{"--namespaces=swarm"}, nil, "--namespaces"},
		{nil, map[string]string{"DCFW_NAMESPACES": "Sandbox"}, "--namespaces"},
		{[]string{"--log-blocked=nflog"}, nil, "--log-blocked"},
		{nil, map[string]string{"DCFW_LOG_BLOCKED": "Kernel"}, "--log-blocked"},
		{[]string{"status", "--no-such-flag"}, nil, "no-such-flag"},
		{[]string{"status", "extra"}, nil, "unexpected arguments"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tt.args, env(tt.env), &stdout, &stderr)
		if code != exitUsage {
			t.Errorf("%v %v: exit %d, want %d", tt.args, tt.env, code, exitUsage)
		}
		if !strings.Contains(stderr.String(), tt.mention) {
			t.Errorf("%v %v: error does not mention %q: %s", tt.args, tt.env, tt.mention, stderr.String())
		}
	}
}

func TestOnceExitCode(t *testing.T) {
	tests := []struct {
		name   string
		st     reconcile.CycleStats
		err    error
		dryRun bool
		want   int
	}{
		{"in desired state", reconcile.CycleStats{Managed: 3}, nil, false, exitOK},
		{"changes applied", reconcile.CycleStats{Managed: 3, Changed: 2}, nil, false, exitOK},
		{"errors", reconcile.CycleStats{Managed: 3, Errors: 1}, nil, false, exitError},
		{"engine unreachable", reconcile.CycleStats{}, errors.New("down"), false, exitError},
		{"dry run, nothing to do", reconcile.CycleStats{Managed: 1}, nil, true, exitOK},
		{"dry run, changes pending", reconcile.CycleStats{Managed: 1, Changed: 1}, nil, true, exitPending},
		{"dry run, removal pending", reconcile.CycleStats{Removed: 1}, nil, true, exitPending},
		{"dry run with errors", reconcile.CycleStats{Changed: 1, Errors: 1}, nil, true, exitError},
	}
	for _, tt := range tests {
		if got := onceExitCode(tt.st, tt.err, tt.dryRun); got != tt.want {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{"interval": "DCFW_INTERVAL", "on-error": "DCFW_ON_ERROR", "dry-run": "DCFW_DRY_RUN"} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}
