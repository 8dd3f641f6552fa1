package app

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/pomocore/pomocore/internal/redact"
)

// NewLogger returns the process logger. Pomocore never formats a secret
// setting itself; as a catch-all for text a dependency wrote, a secret URI
// is shown as url.URL.Redacted shows it and every secret of at least
// redact.MinLen bytes is masked in every logged string. A shorter secret
// is left alone (masking it would show it) and draws a warning here, once,
// naming its setting.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	var values, short []string
	for _, s := range cfg.Settings() {
		if !s.Secret {
			continue
		}
		v := s.Value.String()
		values = append(values, v)
		if redact.Short(v) {
			short = append(short, s.Env)
		}
	}
	secrets := redact.New(values...)
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		return redactAttr(a, secrets)
	}}
	var log *slog.Logger
	if cfg.LogFormat == "json" {
		log = slog.New(slog.NewJSONHandler(w, opts))
	} else {
		log = slog.New(slog.NewTextHandler(w, opts))
	}
	for _, env := range short {
		log.Warn(fmt.Sprintf("%s is shorter than %d characters: guessable, and not masked in log text (masking a short secret shows it); use a longer one", env, redact.MinLen),
			"setting", env)
	}
	return log
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
