// Command pomocore is the Pomocore activity pipeline: it reads activity
// events from a Redis stream, classifies them, stores usage logs in MongoDB
// (or an embedded SQLite store) and keeps the leaderboards in Redis.
//
// Usage: pomocore <command> [flags]; `pomocore help` lists the commands
// (run, settings, version, classify, eval, patterns, leaderboard, bench, learn,
// doctor, compare, cutover, healthcheck) and `pomocore <command> -h` its flags. -h never runs anything; a usage
// error exits 2, any other failure 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // periods in any IANA zone, also on images without zoneinfo

	"github.com/pomocore/pomocore/internal/app"
	"github.com/pomocore/pomocore/internal/buildinfo"
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// runMain dispatches a subcommand and returns the process exit code: 0,
// 2 for a usage error, 1 for any other failure (see cli.go).
func runMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// The tools' go-redis lines as log records on stderr (run routes them
	// to its own logger, in the chosen format).
	app.RouteRedisLogs(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	name, rest := args[0], args[1:]
	var err error
	switch name {
	case "run":
		cfg, lerr := loadConfig("run", rest, getenv, stderr)
		var ue usageError
		switch {
		case lerr == nil:
			err = run(ctx, cfg, stdout, stderr)
		case errors.Is(lerr, flag.ErrHelp), errors.As(lerr, &ue):
			err = lerr
		default:
			err = fmt.Errorf("bad settings (see `pomocore settings`):\n%w", lerr)
		}
	case "settings":
		fs := newFlags("settings", "usage: pomocore settings\n\nLists every setting: environment variable, flag, default, meaning.\n", stderr)
		if err = parseNoArgs(fs, rest); err == nil {
			printSettings(stdout)
		}
	case "version":
		fs := newFlags("version", "usage: pomocore version\n\nPrints the version, the VCS revision and the Go version of this binary.\n", stderr)
		if err = parseNoArgs(fs, rest); err == nil {
			fmt.Fprintln(stdout, versionLine())
		}
	case "classify":
		err = classifyCmd(rest, getenv, os.Stdin, stdout, stderr)
	case "eval":
		err = evalCmd(rest, stdout, stderr)
	case "patterns":
		if code, done := patternsHelp(rest, stdout, stderr); done {
			return code
		}
		err = patternsCmd(ctx, rest, getenv, stdout, stderr)
	case "leaderboard":
		err = leaderboardCmd(ctx, rest, getenv, stdout, stderr)
	case "bench":
		err = benchCmd(ctx, rest, getenv, stdout, stderr)
	case "learn":
		err = learnCmd(ctx, rest, getenv, stdout, stderr)
	case "doctor":
		err = doctorCmd(ctx, rest, getenv, stdout, stderr)
	case "compare":
		err = compareCmd(ctx, rest, getenv, stdout, stderr)
	case "cutover":
		err = cutoverCmd(ctx, rest, getenv, stdout, stderr)
	case "healthcheck":
		err = healthcheckCmd(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "pomocore: unknown command %q\n", name)
		usage(stderr)
		return 2
	}
	return exitCode(name, err, stderr)
}

// patternsHelp answers `patterns` with no, an unknown or a help
// subcommand, and -h of the subcommands without flags of their own, which
// would otherwise open the store.
func patternsHelp(args []string, stdout, stderr io.Writer) (int, bool) {
	known := []string{"list", "export", "import", "add", "remove", "suggest", "learned", "revert"}
	if code, done := subcommandHelp(args, known, patternsUsage, stdout, stderr); done {
		return code, true
	}
	if wantsHelp(args[1:]) {
		fmt.Fprint(stdout, patternsUsage)
		return 0, true
	}
	return 0, false
}

// versionLine is what `pomocore version` prints.
func versionLine() string {
	b := buildinfo.Read()
	return fmt.Sprintf("pomocore %s (revision %s%s, %s)", b.Version, b.Revision, map[bool]string{true: ", modified"}[b.Modified], b.GoVersion)
}

// commandsHelp lists every command; usage prints it and the package doc
// repeats it.
const commandsHelp = `commands:
  run        run the pipeline (embedded Redis and SQLite store when REDIS_ADDR and MONGO_URI are unset)
  settings   list every setting: environment variable, flag, default
  version    the version, VCS revision and Go version of this binary
  classify   classify JSON lines {"app","title","url"} from stdin (or -app/-url/-title; -patterns FILE)
  eval FILE  accuracy, per-category precision/recall and confusions on a labelled JSON-lines file
  patterns list|export        the category_pattern documents (export: as JSON)
  patterns import FILE        write a pattern file (ours, or the main server's {"categoryPatterns": [...]})
  patterns add|remove         add or remove one app or domain pattern of a category
  patterns suggest            patterns the LLM fallback answered consistently (from the configured store)
  leaderboard top|rank        read a leaderboard (REDIS_ADDR)
  leaderboard rebuild -from D -to D   recompute the leaderboards of those days from the usage logs
  learn      train the local model from pattern files and labelled activities; held-out accuracy, calibration, replay (-o model.json)
  bench      benchmark the pipeline on a generated workload, verified (see bench -h)
  doctor [-json]              read-only preflight of the deployed Redis and MongoDB; exit 1 on a blocker
  compare -from D [-to D] [-json]   the shadow run's leaderboards (POMOCORE_SHADOW) against the live ones
  cutover adopt [-json]       record the deployed group's history as counted, so retries across the switch count once
  healthcheck [-ready]        ask the running service's /healthz (or /readyz); exit 1 unless 200 (for HEALTHCHECK)
`

func usage(w io.Writer) {
	fmt.Fprint(w, "usage: pomocore <command> [flags]\n\n"+commandsHelp)
}
