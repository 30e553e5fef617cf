package main

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dcfw/dcfw/internal/testpeer"
)

// The test binary doubles as dcfw-testpeer: run with this variable set, it
// runs main with the remaining arguments. This tests the real command line,
// exit codes and output without building a separate binary.
const runMainEnv = "DCFW_TESTPEER_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func peer(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

// runPeer runs the peer to completion and returns its stdout and exit code.
func runPeer(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := peer(args...).Output()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("run peer %v: %v", args, err)
	return "", -1
}

// startServe starts `serve` on free ports and waits for its ready line.
func startServe(t *testing.T) (tcpPort, udpPort string) {
	t.Helper()
	tcpPort, udpPort = freePort(t, "tcp"), freePort(t, "udp")
	cmd := peer("serve", "--tcp", tcpPort, "--udp", udpPort)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("serve did not exit cleanly on SIGTERM: %v", err)
		}
	})
	lines := bufio.NewScanner(stdout)
	ready := make(chan bool, 1)
	go func() {
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), "ready ") {
				ready <- true
				break
			}
		}
		for lines.Scan() { // keep draining so the server never blocks
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("serve exited before it was ready")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve not ready after 10s")
	}
	return tcpPort, udpPort
}

func freePort(t *testing.T, network string) string {
	t.Helper()
	var a net.Addr
	if network == "tcp" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a = l.Addr()
		l.Close()
	} else {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a = c.LocalAddr()
		c.Close()
	}
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

func TestConnectCommand(t *testing.T) {
	tcpPort, udpPort := startServe(t)
	closed := freePort(t, "tcp")
	tests := []struct {
		args []string
		want testpeer.Outcome
	}{
		{[]string{"connect", "tcp", "127.0.0.1:" + tcpPort}, testpeer.Connected},
		// Flags may come before or after the positional arguments.
		{[]string{"connect", "--timeout", "2s", "udp", "127.0.0.1:" + udpPort}, testpeer.Answered},
		{[]string{"connect", "tcp", "[::1]:" + tcpPort, "--timeout", "2s"}, testpeer.Connected},
		{[]string{"connect", "tcp", "127.0.0.1:" + closed}, testpeer.Refused},
	}
	for _, tt := range tests {
		out, code := runPeer(t, tt.args...)
		got, err := testpeer.ParseReport(out, code)
		if err != nil || got != tt.want {
			t.Errorf("%v: got %v (%v), output %q exit %d; want %v", tt.args, got, err, out, code, tt.want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"connect", "tcp"},
		{"connect", "tcp", "127.0.0.1:1", "--bogus"},
		{"serve", "--tcp", "http"},
		{"sleep", "soon"},
		{"raw", "eth0"},
		{"raw", "eth0", "not-a-mac", "10.0.0.1:1", "10.0.0.2:2"},
		{"raw", "eth0", "02:00:00:00:00:01", "10.0.0.1:1", "10.0.0.2:2", "--mark", "x"},
		{"frobnicate"},
	} {
		out, code := runPeer(t, args...)
		if code != testpeer.ExitUsage {
			t.Errorf("%v: exit %d, want usage error %d (output %q)", args, code, testpeer.ExitUsage, out)
		}
		if _, err := testpeer.ParseReport(out, code); err == nil {
			t.Errorf("%v: a usage error parsed as an outcome", args)
		}
	}
}

func TestFirstConnectReportsThenStaysAlive(t *testing.T) {
	tcpPort, _ := startServe(t)
	cmd := peer("first-connect", "tcp", "127.0.0.1:"+tcpPort, "--timeout", "2s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		s.Scan()
		line <- s.Text()
		for s.Scan() {
		}
	}()
	select {
	case l := <-line:
		if !strings.HasPrefix(l, "first-connect connected ") || !strings.Contains(l, " started=") {
			t.Errorf("first line %q, want a first-connect report with its start time", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no first-connect report after 10s")
	}
	// Still alive after reporting: the test reads logs at leisure.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("first-connect exited after reporting: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit on SIGTERM: %v, want status 0", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("first-connect ignored SIGTERM")
	}
}

func TestSleepPrintsStartAndEnds(t *testing.T) {
	out, code := runPeer(t, "sleep", "10ms")
	if code != 0 || !strings.HasPrefix(out, "started sleep at=") {
		t.Errorf("sleep 10ms: exit %d output %q", code, out)
	}
}
