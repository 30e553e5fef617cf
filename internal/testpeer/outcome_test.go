package testpeer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestClassify(t *testing.T) {
	// Errors as the net package returns them: a syscall error wrapped in an
	// os.SyscallError wrapped in a net.OpError.
	wrap := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	tests := []struct {
		name string
		err  error
		want Outcome
	}{
		{"nil", nil, Connected},
		{"reset or port unreachable", wrap(syscall.ECONNREFUSED), Refused},
		{"no route", wrap(syscall.EHOSTUNREACH), Unreachable},
		{"network unreachable", wrap(syscall.ENETUNREACH), Unreachable},
		{"output hook drop", wrap(syscall.EPERM), NotPermitted},
		{"prohibit route", wrap(syscall.EACCES), NotPermitted},
		{"kernel timeout", wrap(syscall.ETIMEDOUT), TimedOut},
		{"dial deadline", &net.OpError{Op: "dial", Err: context.DeadlineExceeded}, TimedOut},
		{"read deadline", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, TimedOut},
		{"bad address", wrap(syscall.EINVAL), Failed},
		{"other", errors.New("boom"), Failed},
		{"wrapped twice", fmt.Errorf("probe: %w", wrap(syscall.ECONNREFUSED)), Refused},
		{"udp read refused", &net.OpError{Op: "read", Err: os.NewSyscallError("recvfrom", syscall.ECONNREFUSED)}, Refused},
		{"udp send dropped by own output", &net.OpError{Op: "write", Err: os.NewSyscallError("sendto", syscall.EPERM)}, NotPermitted},
		{"address in use", wrap(syscall.EADDRINUSE), Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestOutcomeWordsAndExitCodes(t *testing.T) {
	seen := map[int]Outcome{}
	for o := Connected; o <= Failed; o++ {
		word := o.String()
		back, err := ParseOutcome(word)
		if err != nil || back != o {
			t.Errorf("ParseOutcome(%q) = %v, %v; want %v", word, back, err, o)
		}
		code := o.ExitCode()
		if code == 1 || code == ExitUsage {
			t.Errorf("%v exits %d, which the Go runtime or flag package also use", o, code)
		}
		if prev, dup := seen[code]; dup && !(prev.Passed() && o.Passed()) {
			t.Errorf("%v and %v share exit code %d", prev, o, code)
		}
		seen[code] = o
	}
	for _, word := range []string{"Connected", ""} {
		if _, err := ParseOutcome(word); err == nil {
			t.Errorf("ParseOutcome accepted %q, a word the peer never prints", word)
		}
	}
	if got := Outcome(0).String(); got != "Outcome(0)" {
		t.Errorf("the zero Outcome prints %q: it must not read as an outcome", got)
	}
}

func TestParseReport(t *testing.T) {
	tests := []struct {
		output  string
		code    int
		want    Outcome
		wantErr bool
	}{
		{"connected elapsed=1ms reply=\"ok\"\n", 0, Connected, false},
		{"answered elapsed=2ms", 0, Answered, false},
		{"timeout elapsed=1s err=\"i/o timeout\"", ExitTimedOut, TimedOut, false},
		{"refused elapsed=0s", ExitRefused, Refused, false},
		{"not-permitted elapsed=0s", ExitNotPermitted, NotPermitted, false},
		// The word and the code disagree: something else exited.
		{"connected elapsed=1ms", ExitTimedOut, Failed, true},
		// A crash (Go panics exit 2) or a missing binary (126/127).
		{"panic: runtime error", 2, Failed, true},
		{"exec failed: no such file", 127, Failed, true},
		{"", 0, Failed, true},
	}
	for _, tt := range tests {
		got, err := ParseReport(tt.output, tt.code)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseReport(%q, %d) = %v, %v; want %v, error %v", tt.output, tt.code, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestBlockedAndPassed(t *testing.T) {
	for o := Connected; o <= Failed; o++ {
		wantBlocked := o == TimedOut || o == NotPermitted
		wantPassed := o == Connected || o == Answered
		if o.Blocked() != wantBlocked || o.Passed() != wantPassed {
			t.Errorf("%v: Blocked=%v Passed=%v, want %v %v", o, o.Blocked(), o.Passed(), wantBlocked, wantPassed)
		}
	}
}
