package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// sleepFor bounds how long a sleeper lives should every other way of ending
// it fail (Close not called, PR_SET_PDEATHSIG not delivered).
const sleepFor = 2 * time.Hour

// Sleepers are processes that sleep, each in a network namespace of its
// own (cloned with CLONE_NEWNET): stand-ins for containers, whose
// namespaces dcfw finds the way it finds a container's, through
// /proc/<pid>/ns/net. A namespace lives as long as its process.
type Sleepers struct {
	cmds  []*exec.Cmd
	spawn chan spawnReq
	done  chan struct{}
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

// StartSleepers starts n sleepers. On error, the ones already started are
// stopped.
//
// They are started from one goroutine locked to its OS thread for their
// whole life: PR_SET_PDEATHSIG fires when the *thread* that started a
// child ends, and the Go runtime ends threads that goroutines leave locked
// (netlink code that enters namespaces does), which would kill sleepers in
// the middle of a benchmark.
func StartSleepers(n int) (*Sleepers, error) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return nil, fmt.Errorf("bench: the sleep command is needed: %w", err)
	}
	s := &Sleepers{spawn: make(chan spawnReq), done: make(chan struct{})}
	go s.spawner()
	for range n {
		cmd := exec.Command(sleep, fmt.Sprint(int(sleepFor.Seconds())))
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWNET,
			Pdeathsig:  syscall.SIGKILL,
		}
		req := spawnReq{cmd: cmd, err: make(chan error, 1)}
		s.spawn <- req
		if err := <-req.err; err != nil {
			s.Close()
			return nil, fmt.Errorf("bench: start a sleeper in a new network namespace (needs root): %w", err)
		}
		s.cmds = append(s.cmds, cmd)
	}
	return s, nil
}

func (s *Sleepers) spawner() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for {
		select {
		case req := <-s.spawn:
			req.err <- req.cmd.Start()
		case <-s.done:
			return
		}
	}
}

// PIDs of the sleepers, in the order they were started.
func (s *Sleepers) PIDs() []int {
	pids := make([]int, len(s.cmds))
	for i, c := range s.cmds {
		pids[i] = c.Process.Pid
	}
	return pids
}

// Close kills the sleepers and waits for them (the kernel then frees their
// namespaces, and the dcfw tables in them).
func (s *Sleepers) Close() error {
	var errs []error
	for _, c := range s.cmds {
		if err := c.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, err)
		}
	}
	for _, c := range s.cmds {
		// Killed on purpose: the "signal: killed" status is expected.
		_ = c.Wait()
	}
	s.cmds = nil
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	return errors.Join(errs...)
}
