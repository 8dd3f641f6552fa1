package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// The command framework: every subcommand parses its flags with
// newFlags and parseFlags, so that all of them behave alike.
//
//   - -h, -help or --help prints the usage and exits 0 without running
//     anything (runMain checks this before a command without flags of its
//     own runs; parseFlags returns flag.ErrHelp for the others);
//   - a usage error (unknown flag, bad or missing argument, a value the
//     command refuses before doing anything) is a usageError: exit 2;
//   - any other error exits 1.

// usageError is a mistake in the command line: runMain exits 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// flagSet returns a subcommand's flag set: errors are returned, not fatal,
// and its messages go to stderr.
func flagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// newFlags returns the flag set of a subcommand: errors are returned, not
// fatal, and -h prints usage (its first lines) and then the flags.
func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flagSet(name, stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		if hasFlags(fs) {
			fmt.Fprintln(stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseFlags parses args into fs: flag.ErrHelp for -h (the usage is
// printed), a usageError for anything else wrong.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return nil
}

// parseNoArgs is parseFlags for a command that takes flags only.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// wantsHelp reports whether args ask for help: -h, -help or --help before
// a "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// exitCode maps a command's error onto the process exit code, writing the
// error to stderr.
func exitCode(name string, err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "pomocore %s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "pomocore %s: %v\n", name, err)
		return 1
	}
}

// subcommandHelp is the guard of a command whose subcommands are not all
// parsed with a flag set: when args ask for help (or name no known
// subcommand), it prints usage and reports what runMain returns.
func subcommandHelp(args []string, known []string, usage string, stdout, stderr io.Writer) (code int, handled bool) {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2, true
	}
	if wantsHelp(args[:1]) || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0, true
	}
	if !slices.Contains(known, args[0]) {
		fmt.Fprintf(stderr, "unknown subcommand %q (want %s)\n\n%s", args[0], strings.Join(known, ", "), usage)
		return 2, true
	}
	return 0, false
}
