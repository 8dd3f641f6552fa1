package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pomocore/pomocore/doctor"
	"github.com/pomocore/pomocore/internal/app"
)

// doctorCmd implements `pomocore doctor [-json]`: the read-only preflight
// of the configured Redis and MongoDB (docs/cutover.md). It fails (exit 1)
// when the report has a blocker.
func doctorCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flagSet("doctor", stderr)
	asJSON := fs.Bool("json", false, "write the report and the facts behind it as one JSON document")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	a, in, err := inspectors(ctx, "doctor", getenv, stderr, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg := a.Config()
	rep, err := doctor.Run(ctx, cfg.DoctorConfig(a.Location(), a.Taxonomy()), in.DoctorSources())
	if werr := rep.Write(stdout, *asJSON); werr != nil || err != nil {
		return errors.Join(err, werr)
	}
	if rep.Verdict == doctor.Blocker {
		return fmt.Errorf("%d blocker(s): fix them before cutting over", rep.Counts[doctor.Blocker])
	}
	return nil
}

// inspectors returns the application of the settings in the environment
// (getenv may imply some) and its read-only inspectors.
func inspectors(ctx context.Context, name string, getenv func(string) string, stderr io.Writer, check func(*app.App) error) (*app.App, app.Inspectors, error) {
	cfg, err := loadConfig(name, nil, getenv, stderr)
	if err != nil {
		return nil, app.Inspectors{}, fmt.Errorf("bad settings (see `pomocore settings`):\n%w", err)
	}
	return app.OpenInspectors(ctx, cfg, check)
}
