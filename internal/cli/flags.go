package cli

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"github.com/wabaworker/waba-worker/internal/wabatype"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wabaworker/waba-worker/internal/logging"
)

// help is what a command's --help prints around its flags.
type help struct {
	usage   string   // "worker emit --waba-id ID [flags]"
	about   []string // what the command does, a line each
	env     []string // environment variables it reads, with a word each
	example []string // one or more command lines
	after   []string // anything else (a file format), printed last
}

// newFlagSet returns a flag set that prints nothing by itself: parse prints
// the help and turns mistakes into usage errors.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses args. --help prints h on stdout and returns flag.ErrHelp (exit
// 0); a mistake returns a usage error (exit 2) naming the command's help.
func parse(fs *flag.FlagSet, h help, args []string, stdout io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout, fs, h)
			return err
		}
		return usageError("%v (see '%s --help')", err, fs.Name())
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q (see '%s --help')", fs.Arg(0), fs.Name())
	}
	return nil
}

func printHelp(w io.Writer, fs *flag.FlagSet, h help) {
	fmt.Fprintln(w, "Usage:", h.usage)
	fmt.Fprintln(w)
	for _, l := range h.about {
		fmt.Fprintln(w, l)
	}
	var n int
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Flags:")
		fs.VisitAll(func(f *flag.Flag) {
			typ, usage := flag.UnquoteUsage(f)
			if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool {
				typ = ""
			}
			// A usage ending in " [$VAR]" names the flag's variable: it goes
			// last, after the default, as in `worker run --help`.
			var env string
			if i := strings.LastIndex(usage, " [$"); i >= 0 && strings.HasSuffix(usage, "]") {
				usage, env = usage[:i], usage[i:]
			}
			fmt.Fprintf(w, "  --%s\n        %s", strings.TrimSpace(f.Name+" "+typ), usage)
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "[]" {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			}
			fmt.Fprintln(w, env)
		})
	}
	if len(h.env) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Environment:")
		for _, l := range h.env {
			fmt.Fprintln(w, "  "+l)
		}
	}
	if len(h.example) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Example:")
		for _, l := range h.example {
			fmt.Fprintln(w, "  "+l)
		}
	}
	for i, l := range h.after {
		if i == 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, l)
	}
}

// natsFlags are the connection flags of emit and replay.
type natsFlags struct {
	url, creds, stream string
	topo               wabatype.Topology
}

var natsEnvHelp = []string{
	"NATS_URL, NATS_CREDS, WORKER_STREAM   defaults of --nats-url, --nats-creds, --stream",
	"WORKER_SUBJECT, WORKER_SUCCEEDED_SUBJECT, WORKER_FAILED_SUBJECT   the subjects, as for `worker run`",
}

func (n *natsFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&n.url, "nats-url", cmp.Or(getenv("NATS_URL"), nats.DefaultURL), "comma-separated NATS server `URL`s [$NATS_URL]")
	fs.StringVar(&n.creds, "nats-creds", getenv("NATS_CREDS"), "`path` to a NATS .creds file [$NATS_CREDS]")
	fs.StringVar(&n.stream, "stream", cmp.Or(getenv("WORKER_STREAM"), wabatype.DefaultStream), "JetStream stream `name` [$WORKER_STREAM]")
	n.topo = wabatype.Topology{
		Subject:          getenv("WORKER_SUBJECT"),
		SucceededSubject: getenv("WORKER_SUCCEEDED_SUBJECT"),
		FailedSubject:    getenv("WORKER_FAILED_SUBJECT"),
	}
}

// connect opens a NATS connection for a one-shot command: it fails fast,
// with the URL in the message, when no server answers.
func (n *natsFlags) connect(name string) (*nats.Conn, jetstream.JetStream, wabatype.Topology, error) {
	n.topo.Stream = n.stream
	topo := n.topo.WithDefaults()
	opts := []nats.Option{nats.Name(name), nats.Timeout(5 * time.Second)}
	if n.creds != "" {
		opts = append(opts, nats.UserCredentials(n.creds))
	}
	nc, err := nats.Connect(n.url, opts...)
	if err != nil {
		return nil, nil, topo, fmt.Errorf("connect to NATS at %s: %w", logging.RedactURLs(n.url), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, topo, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, topo, nil
}

// stringList is a flag that may be repeated, each value also a comma list.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// logger builds a command's logger from LOG_LEVEL and LOG_FORMAT, with def as
// the level when LOG_LEVEL is unset.
func logger(w io.Writer, getenv func(string) string, def slog.Level) (*slog.Logger, error) {
	level := def
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return nil, usageError("LOG_LEVEL: want debug, info, warn or error (got %q)", v)
		}
	}
	log, err := logging.New(w, level, getenv("LOG_FORMAT"))
	if err != nil {
		return nil, usageError("LOG_FORMAT: %v", err)
	}
	return log, nil
}
