package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/pomocore/pomocore/internal/app"
)

// loadConfig reads the settings (app.Config.Settings) from the environment,
// then from the flags in args, and validates them. An unparsable value is
// an error naming its variable or flag; a bad command line is a
// usageError (or flag.ErrHelp).
func loadConfig(name string, args []string, getenv func(string) string, out io.Writer) (app.Config, error) {
	c := app.Defaults()
	settings := c.Settings()
	var errs []error
	set := map[string]bool{}
	for _, s := range settings {
		if v := getenv(s.Env); v != "" {
			if err := s.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.Env, err))
			}
			set[s.Env] = true
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	fs := flagSet(name, out)
	envOf := map[string]string{}
	for _, s := range settings {
		fs.Var(s.FlagValue(), s.Flag, s.Help+" ($"+s.Env+")")
		envOf[s.Flag] = s.Env
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: pomocore %s [flags]\n\nEvery flag can also be set by the environment variable in brackets.\n\n", name)
		fs.PrintDefaults()
	}
	if err := parseNoArgs(fs, args); err != nil {
		return c, err
	}
	fs.Visit(func(f *flag.Flag) { set[envOf[f.Name]] = true })
	c.Complete(func(env string) bool { return set[env] })
	return c, c.Validate()
}

// printSettings writes the settings table (for `pomocore settings`).
func printSettings(w io.Writer) {
	c := app.Defaults()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tFLAG\tDEFAULT\tMEANING")
	for _, s := range c.Settings() {
		def := s.Value.String()
		if s.Env == "POMOCORE_CONSUMER" {
			def = "<host>-<pid>"
		}
		fmt.Fprintf(tw, "%s\t-%s\t%s\t%s\n", s.Env, s.Flag, def, s.Help)
	}
	tw.Flush()
}
