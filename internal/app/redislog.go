package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// RouteRedisLogs sends go-redis's own log lines (a pool that cannot dial,
// a connection that fails to close, ...) to log at warn level, marked
// component=go-redis, in the logger's format, instead of the library's
// plain lines on stderr. go-redis has one logger per process: the last
// call wins.
func RouteRedisLogs(log *slog.Logger) {
	goredis.SetLogger(redisLogger{log.With("component", "go-redis")})
}

// redisLogger implements go-redis's internal.Logging.
type redisLogger struct{ log *slog.Logger }

// Printf implements go-redis's internal.Logging.
func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	l.log.WarnContext(ctx, msg)
}
