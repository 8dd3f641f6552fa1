package app

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/pomocore/pomocore/internal/redact"
	"github.com/pomocore/pomocore/mongo"
)

// NewLogger returns the process logger. Secret settings are replaced in
// every logged string, whatever logs them.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	secrets := redact.New(append([]string{cfg.RedisPassword, cfg.OpenAIKey}, mongo.Secrets(cfg.MongoURI)...)...)
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		return redactAttr(a, secrets)
	}}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func redactAttr(a slog.Attr, secrets *strings.Replacer) slog.Attr {
	if secrets == nil {
		return a
	}
	var s string
	switch v := a.Value.Any().(type) {
	case string:
		s = v
	case error:
		s = v.Error()
	case fmt.Stringer:
		s = v.String()
	default:
		return a
	}
	r := secrets.Replace(s)
	if r == s {
		return a
	}
	return slog.String(a.Key, r)
}
