package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/dcfw/dcfw/reconcile"
)

// defaultStatusSocket is where the daemon answers `dcfw status`: a tmpfs
// in the shipped deployment (its root filesystem is read-only).
const defaultStatusSocket = "/run/dcfw/status.sock"

// statusTimeout bounds one status request: the loop answers between two
// steps of its work, and reads every managed namespace's table.
const statusTimeout = 30 * time.Second

// statusAnswerer is what the status socket asks (*reconcile.Controller).
type statusAnswerer interface {
	Status(ctx context.Context) (reconcile.Status, error)
}

// serveStatus answers each connection to the unix socket at path with the
// controller's Status as JSON, until ctx ends. A socket another running
// dcfw answers on is left alone (two may run on one host: a test copy
// beside the deployment); dcfw then runs without one.
func serveStatus(ctx context.Context, log *zap.Logger, path string, ctrl statusAnswerer) (stop func()) {
	if path == "" {
		return func() {}
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		log.Warn("another process answers on the status socket; `dcfw status` will not reach this one", zap.String("socket", path))
		return func() {}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		log.Warn("cannot create the status socket's directory; `dcfw status` will not work (mount a tmpfs on it: see deploy/docker-compose.yml)", zap.String("socket", path), zap.Error(err))
		return func() {}
	}
	// Left by a dcfw that did not stop cleanly: nobody answered above.
	_ = os.Remove(path)
	old := syscall.Umask(0o077) // the socket is for root only
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		log.Warn("cannot open the status socket; `dcfw status` will not work", zap.String("socket", path), zap.Error(err))
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept()
			if err != nil {
				return // closed by stop
			}
			go answerStatus(ctx, log, conn, ctrl)
		}
	}()
	return func() {
		l.Close() // removes the socket file too
		<-done
	}
}

func answerStatus(ctx context.Context, log *zap.Logger, conn net.Conn, ctrl statusAnswerer) {
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	_ = conn.SetWriteDeadline(time.Now().Add(statusTimeout + 5*time.Second))
	st, err := ctrl.Status(ctx)
	enc := json.NewEncoder(conn)
	if err != nil {
		log.Warn("status request not answered", zap.Error(err))
		_ = enc.Encode(statusReply{Error: err.Error()})
		return
	}
	_ = enc.Encode(statusReply{Status: &st})
}

// statusReply is what the socket sends: the status or why there is none.
type statusReply struct {
	Status *reconcile.Status `json:"status,omitempty"`
	Error  string            `json:"error,omitempty"`
}

// runStatus is `dcfw status [--json] [--status-socket PATH]`: it asks the
// running dcfw and prints one line per managed container.
func runStatus(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dcfw status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	socket := fs.String("status-socket", defaultStatusSocket, "the running dcfw's status socket")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dcfw status: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitUsage
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "status-socket" })
	if v := getenv(envName("status-socket")); !given && v != "" {
		*socket = v
	}
	st, err := askStatus(*socket)
	if err != nil {
		fmt.Fprintf(stderr, "dcfw status: %v\n", err)
		return exitError
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
		return exitOK
	}
	printStatus(stdout, st)
	return exitOK
}

func askStatus(path string) (reconcile.Status, error) {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return reconcile.Status{}, fmt.Errorf("is dcfw running? %w", err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(statusTimeout + 10*time.Second))
	var r statusReply
	if err := json.NewDecoder(conn).Decode(&r); err != nil {
		return reconcile.Status{}, fmt.Errorf("read the answer: %w", err)
	}
	if r.Status == nil {
		return reconcile.Status{}, fmt.Errorf("dcfw answered: %s", r.Error)
	}
	return *r.Status, nil
}

// printStatus writes the table: one row per container.
func printStatus(w io.Writer, st reconcile.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tID\tINPUT\tOUTPUT\tPATH\tLIVE TABLE\tBLOCKED (1h)")
	for _, c := range st.Containers {
		blocked := "-"
		if c.Blocked != nil {
			blocked = strconv.Itoa(*c.Blocked)
		}
		live := c.Live
		if c.Error != "" {
			live += " (" + c.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.ID,
			chainText(c.Input, c.InputRules), chainText(c.Output, c.OutputRules), c.Path, live, blocked)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d containers; blocked packets logged by: %s\n", len(st.Containers), st.LogBlocked)
	for _, c := range st.Containers {
		for _, d := range c.Differences {
			fmt.Fprintf(w, "%s differs: %s\n", c.Name, d)
		}
	}
}

func chainText(policy string, rules int) string {
	if policy == "lockdown" {
		return policy
	}
	if rules == 1 {
		return policy + " (1 rule)"
	}
	return policy + " (" + strconv.Itoa(rules) + " rules)"
}
