package main

import (
	"context"
	"errors"
	"io"

	"github.com/pomocore/pomocore/internal/app"
)

// run runs the pipeline of cfg until ctx ends, logging to logOut. A signal
// during start-up (while waiting for Redis or the store) is a clean stop,
// not an error.
func run(ctx context.Context, cfg app.Config, stdout, logOut io.Writer) error {
	log := app.NewLogger(cfg, logOut)
	app.RouteRedisLogs(log)
	a, err := app.New(cfg, app.Deps{Log: log, Out: stdout})
	if err != nil {
		return err
	}
	defer a.Close()
	err = a.Run(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		log.Info("stopped during start-up", "reason", err)
		return nil
	}
	return err
}
