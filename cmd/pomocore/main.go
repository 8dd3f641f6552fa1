// Command pomocore is the Pomocore activity pipeline: it reads activity
// events from a Redis stream, classifies them, stores usage logs in MongoDB
// (or an embedded SQLite store) and keeps the leaderboards in Redis.
//
// Usage: pomocore <command> [flags]; `pomocore help` lists the commands
// (run, settings, classify, eval, patterns, leaderboard, bench, learn,
// doctor, compare) and `pomocore run -h` the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // periods in any IANA zone, also on images without zoneinfo
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// runMain dispatches a subcommand and returns the process exit code.
func runMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	switch args[0] {
	case "run":
		cfg, lerr := loadConfig("run", args[1:], getenv, stderr)
		switch {
		case lerr == nil:
			err = run(ctx, cfg, stdout, stderr)
		case errors.Is(lerr, flag.ErrHelp):
			err = lerr
		default:
			err = fmt.Errorf("bad settings (see `pomocore settings`):\n%w", lerr)
		}
	case "settings":
		printSettings(stdout)
	case "classify":
		err = classifyCmd(args[1:], getenv, os.Stdin, stdout, stderr)
	case "eval":
		err = evalCmd(args[1:], stdout, stderr)
	case "patterns":
		err = patternsCmd(ctx, args[1:], getenv, stdout, stderr)
	case "leaderboard":
		err = leaderboardCmd(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		err = benchCmd(ctx, args[1:], getenv, stdout, stderr)
	case "learn":
		err = learnCmd(ctx, args[1:], getenv, stdout, stderr)
	case "doctor":
		err = doctorCmd(ctx, args[1:], getenv, stdout, stderr)
	case "compare":
		err = compareCmd(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "pomocore: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintf(stderr, "pomocore %s: %v\n", args[0], err)
		return 1
	}
}

// commandsHelp lists every command; usage prints it and the package doc
// repeats it.
const commandsHelp = `commands:
  run        run the pipeline (embedded Redis and SQLite store when REDIS_ADDR and MONGO_URI are unset)
  settings   list every setting: environment variable, flag, default
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
`

func usage(w io.Writer) {
	fmt.Fprint(w, "usage: pomocore <command> [flags]\n\n"+commandsHelp)
}
