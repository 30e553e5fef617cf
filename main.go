// Command dcfw is a per-container firewall for Docker: it reads dcfw.*
// labels on running containers and enforces them with nftables inside each
// container's own network namespace. The README is the user's guide; each
// package's doc (go doc ./nft, ./reconcile, ./labels) describes its part.
//
// Every flag can also be set by an environment variable DCFW_<NAME>
// (upper case, dashes as underscores: DCFW_INTERVAL, DCFW_ON_ERROR); a flag
// on the command line wins over the environment.
//
// Exit status: 0 on a clean stop (SIGTERM/SIGINT; rules stay in place) or,
// with --once, when every managed container is in its desired state; 1 on
// errors; 2 on bad flags; 3 with --once --dry-run when changes are pending.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dcfw/dcfw/droplog"
	"github.com/dcfw/dcfw/engine/moby"
	"github.com/dcfw/dcfw/internal/preflight"
	"github.com/dcfw/dcfw/reconcile"
)

const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitPending = 3
)

// The controller consumes the moby client through its own small interface.
var _ reconcile.Engine = (*moby.Client)(nil)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// options are the parsed command line.
type options struct {
	interval  time.Duration
	once      bool
	dryRun    bool
	logLevel  zapcore.Level
	logFormat string
	procDir   string
	netnsDir  string
	// namespaces is --namespaces: auto, or the mode asked for.
	namespaces     preflight.Mode
	namespacesAuto bool
	onError        reconcile.OnError
	scope          reconcile.Scope
	images         reconcile.ImageLabels
	strict         bool
	version        bool
	// logBlocked: where blocked packets are logged; statusSocket: where
	// `dcfw status` asks (main_status.go).
	logBlocked   reconcile.LogBlocked
	statusSocket string
}

// parseFlags parses args, then fills every flag not given on the command
// line from DCFW_<NAME> in the environment.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("dcfw", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.interval, "interval", 10*time.Second, "time between full reconciles of every container")
	fs.BoolVar(&o.once, "once", false, "reconcile every container once and exit (0: all in their desired state)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "log what would change, write nothing")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "console", "log format: console or json")
	fs.StringVar(&o.procDir, "proc-dir", "/proc", "where the host's procfs is mounted")
	fs.StringVar(&o.netnsDir, "netns-dir", "/var/run/docker/netns", "where Docker's namespace (sandbox) files are")
	namespaces := fs.String("namespaces", preflight.ModeAuto, "how containers' namespaces are opened: pid (/proc/<pid>/ns/net: the host's PID namespace and SYS_PTRACE), sandbox (Docker's sandbox files: Swarm, no pid: host) or auto (pid when --proc-dir shows the host's PID namespace)")
	onError := fs.String("on-error", "lockdown", "containers with label errors: lockdown (fail closed) or skip (leave untouched)")
	imageLabels := fs.String("image-labels", "lockdown", "dcfw labels a container shares with its image (same key and value): lockdown (treated as label errors) or trust")
	fs.BoolVar(&o.strict, "strict", false, "lock down labelled containers that could change their own rules (NET_ADMIN, SYS_ADMIN, --privileged) instead of warning")
	onlyLabel := fs.String("only-label", "", "manage only containers with this label, `KEY[=VALUE]` (e.g. com.docker.compose.project=shop); default: all")
	logBlocked := fs.String("log-blocked", "dcfw", "where blocked packets and `log` rule matches are logged: dcfw (its own log), kernel (the host's kernel log, needs nf_log_all_netns=1) or off")
	fs.StringVar(&o.statusSocket, "status-socket", defaultStatusSocket, "unix socket `dcfw status` asks; empty: none")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: dcfw [flags]\n       dcfw status [--json]\n\nA per-container nftables firewall for Docker, configured by dcfw.* labels.\nEvery flag can also be set as DCFW_<NAME> in the environment (e.g. DCFW_INTERVAL=30s).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || envErr != nil {
			return
		}
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("invalid value %q for %s: %v", v, name, err)
			}
		}
	})
	if envErr != nil {
		return o, envErr
	}

	if o.interval <= 0 {
		return o, fmt.Errorf("invalid --interval %s: must be positive", o.interval)
	}
	lvl, err := zapcore.ParseLevel(*logLevel)
	if err != nil || lvl < zapcore.DebugLevel || lvl > zapcore.ErrorLevel {
		return o, fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", *logLevel)
	}
	o.logLevel = lvl
	if o.logFormat != "console" && o.logFormat != "json" {
		return o, fmt.Errorf("invalid --log-format %q: want console or json", o.logFormat)
	}
	if o.namespaces, o.namespacesAuto, err = preflight.ParseMode(*namespaces); err != nil {
		return o, err
	}
	if o.onError, err = reconcile.ParseOnError(*onError); err != nil {
		return o, fmt.Errorf("invalid --on-error %q: want lockdown or skip", *onError)
	}
	if o.images, err = reconcile.ParseImageLabels(*imageLabels); err != nil {
		return o, fmt.Errorf("invalid --image-labels %q: want lockdown or trust", *imageLabels)
	}
	if o.logBlocked, err = reconcile.ParseLogBlocked(*logBlocked); err != nil {
		return o, fmt.Errorf("invalid --log-blocked %q: want dcfw, kernel or off", *logBlocked)
	}
	if o.scope, err = reconcile.ParseScope(*onlyLabel); err != nil {
		return o, fmt.Errorf("invalid --only-label: %v", err)
	}
	return o, nil
}

// onceExitCode is --once's exit status: 0 when every managed container is
// in its desired state, 1 when anything failed, 3 when a dry run found
// changes to make (so the namespaces are not in their desired state).
func onceExitCode(st reconcile.CycleStats, err error, dryRun bool) int {
	switch {
	case err != nil || st.Errors > 0:
		return exitError
	case dryRun && (st.Changed > 0 || st.Removed > 0):
		return exitPending
	}
	return exitOK
}

// envName is the environment variable of a flag: interval → DCFW_INTERVAL.
func envName(flagName string) string {
	return "DCFW_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func newLogger(o options, w io.Writer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	if o.logFormat == "json" {
		encoder = zapcore.NewJSONEncoder(enc)
	} else {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		enc.EncodeDuration = zapcore.StringDurationEncoder // "1.2ms", not 0.0012
		encoder = zapcore.NewConsoleEncoder(enc)
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(w)), o.logLevel))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "status" {
		return runStatus(args[1:], getenv, stdout, stderr)
	}
	o, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "dcfw: %v\n", err)
		return exitUsage
	}
	if o.version {
		fmt.Fprintf(stdout, "dcfw %s\n", versionString())
		return exitOK
	}

	log := newLogger(o, stderr)
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush at exit

	// One context for the whole run: SIGTERM ends the wait for the engine
	// at start as it ends the controller (rules stay in place).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	docker, err := moby.New()
	if err != nil {
		log.Error("cannot set up the docker client", zap.Error(err))
		return exitError
	}
	defer docker.Close()

	mode, ok := runPreflight(ctx, log, o, docker)
	if !ok {
		return exitError
	}
	reportEngine(ctx, log, docker)

	namespaces, sandboxes := namespacesFor(log, mode, o)
	// One NFLOG reader per managed namespace (package droplog); its lines
	// go to dcfw's own log.
	var hub *droplog.Hub
	if o.logBlocked == reconcile.LogDcfw {
		hub = droplog.NewHub(log, droplog.Config{})
		defer hub.Close()
	}
	ctrl, err := reconcile.New(reconcile.Config{
		Engine:      docker,
		Namespaces:  namespaces,
		Firewall:    explainedFirewall{reconcile.NFTFirewall{}},
		Log:         log,
		Interval:    o.interval,
		DryRun:      o.dryRun,
		OnError:     o.onError,
		Scope:       o.scope,
		ImageLabels: o.images,
		Strict:      o.strict,
		Sandboxes:   sandboxes,
		LogBlocked:  o.logBlocked,
		DropLog:     dropLogOf(hub),
		Resolver:    reconcile.NSResolver{ProcDir: o.procDir},
	})
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		return exitError
	}

	log.Info("dcfw starting",
		zap.String("version", versionString()),
		zap.String("docker_host", docker.Host()),
		zap.Bool("once", o.once),
		zap.Bool("dry_run", o.dryRun),
		zap.Duration("interval", o.interval),
		zap.Stringer("on_error", o.onError),
		zap.Stringer("image_labels", o.images),
		zap.Bool("strict", o.strict),
		zap.Stringer("scope", o.scope),
		zap.String("proc_dir", o.procDir),
		zap.String("netns_dir", o.netnsDir),
		zap.Stringer("namespaces", mode),
		zap.String("raw_frame_filter", rawFrameFilter()),
		zap.Stringer("log_blocked", o.logBlocked),
		zap.String("status_socket", o.statusSocket),
	)

	if o.once {
		st, err := ctrl.Once(ctx)
		if err != nil {
			log.Error("reconcile failed", zap.Error(err))
		}
		return onceExitCode(st, err, o.dryRun)
	}
	stopStatus := serveStatus(ctx, log, o.statusSocket, ctrl)
	defer stopStatus()
	if err := ctrl.Run(ctx); err != nil {
		log.Error("dcfw stopped", zap.Error(err))
		return exitError
	}
	return exitOK
}

// dropLogOf is hub as a reconcile.DropLog: nil stays a nil interface.
func dropLogOf(hub *droplog.Hub) reconcile.DropLog {
	if hub == nil {
		return nil
	}
	return hub
}
