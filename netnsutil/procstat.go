package netnsutil

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// pfKthread is PF_KTHREAD from the kernel's include/linux/sched.h. No
// process can set it on itself.
const pfKthread = 0x00200000

// ErrStatFormat: a /proc/PID/stat file whose process flags cannot be read
// (not procfs, or a format this code does not know).
var ErrStatFormat = errors.New("cannot read the process flags")

// KernelThread reports whether procDir/PID/stat shows a kernel thread, and
// the process's command name, quoted, for messages. Kernel threads are
// visible only from the host's (initial) PID namespace, which makes PID 2
// (kthreadd) a probe for it. A missing PID gives an error that matches
// fs.ErrNotExist.
func KernelThread(procDir string, pid int) (kthread bool, comm string, err error) {
	path := filepath.Join(procDir, strconv.Itoa(pid), "stat")
	b, err := os.ReadFile(path)
	if err != nil {
		return false, "", err
	}
	flags, ok := statFlags(b)
	if !ok {
		return false, "", fmt.Errorf("%s: %w from %q", path, ErrStatFormat, b)
	}
	return flags&pfKthread != 0, statComm(b), nil
}

// isKernelThread is KernelThread without the details: false on any error.
func isKernelThread(procDir string, pid int) bool {
	k, _, err := KernelThread(procDir, pid)
	return err == nil && k
}

// statFlags parses the flags field of a /proc/PID/stat line: "pid (comm)
// state ppid pgrp session tty_nr tpgid flags ...". comm may hold spaces and
// parentheses, so fields are counted after its last ')'.
func statFlags(stat []byte) (uint64, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 7 {
		return 0, false
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	return flags, err == nil
}

// statComm is the command name in a /proc/PID/stat line, quoted.
func statComm(stat []byte) string {
	i, j := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if i < 0 || j <= i {
		return "?"
	}
	return strconv.Quote(string(stat[i+1 : j]))
}
