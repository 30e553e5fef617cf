package main

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/dcfw/dcfw/nft"
	"github.com/dcfw/dcfw/reconcile"
)

// failingFirewall fails every Apply with err, reporting differences.
type failingFirewall struct {
	err         error
	differences []string
}

func (f failingFirewall) Apply(reconcile.Namespace, *nft.Table, bool, nft.Generation) (nft.Result, error) {
	return nft.Result{Differences: f.differences}, f.err
}

func (f failingFirewall) Remove(reconcile.Namespace, bool) (nft.Result, error) {
	return nft.Result{Differences: f.differences}, f.err
}

func TestExplainedFirewallNamesTheCause(t *testing.T) {
	tests := []struct {
		name        string
		differences []string
		want        string
	}{
		{"owner table", []string{"table flags owner, want none", "chain input missing"}, "flags owner"},
		{"dormant and owner", []string{"table flags dormant,owner, want none"}, "flags owner"},
		{"missing capability", []string{"table missing"}, "need CAP_NET_ADMIN"},
		{"dormant only", []string{"table flags dormant, want none"}, "need CAP_NET_ADMIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := explainedFirewall{failingFirewall{err: unix.EPERM, differences: tt.differences}}
			_, err := fw.Apply(nil, nil, false, nft.Generation{})
			if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Apply: error %q, want EPERM mentioning %q", err, tt.want)
			}
			_, err = fw.Remove(nil, false)
			if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Remove: error %q, want EPERM mentioning %q", err, tt.want)
			}
		})
	}
}
