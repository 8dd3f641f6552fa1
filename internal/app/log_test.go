package app

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoggerRedactsSecrets(t *testing.T) {
	var buf bytes.Buffer
	cfg := Defaults()
	cfg.RedisPassword = "hunter2-redis"
	cfg.MongoURI = "mongodb://admin:s3cr3t-mongo@db:27017/?authSource=admin"
	cfg.OpenAIKey = "sk-test-openai-key"
	for _, format := range []string{"text", "json"} {
		cfg.LogFormat = format
		log := NewLogger(cfg, &buf)
		log.Info("connect", "uri", cfg.MongoURI, "err", errors.New("auth failed for s3cr3t-mongo"), "key", cfg.OpenAIKey)
		log.Warn("redis "+"x", slog.String("password", cfg.RedisPassword))
	}
	for _, secret := range []string{"hunter2-redis", "s3cr3t-mongo", "sk-test-openai-key", "admin:s3cr3t"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "[REDACTED]") {
		t.Errorf("nothing redacted:\n%s", buf.String())
	}
}

// A short secret is still a secret: a 1- and a 2-character password never
// reach a log line (they were kept only from 3 characters on).
func TestLoggerRedactsShortSecrets(t *testing.T) {
	var buf bytes.Buffer
	cfg := Defaults()
	cfg.RedisPassword = "q"
	cfg.MongoURI = "mongodb://u:zv@db:27017/"
	log := NewLogger(cfg, &buf)
	log.Info("auth failed with q and zv", "err", errors.New("password zv rejected"), "p", "q")
	if strings.Contains(buf.String(), "q") || strings.Contains(buf.String(), "zv") {
		t.Errorf("log contains a short secret:\n%s", buf.String())
	}
}

// Each kind of setting parses its value (numbers, booleans and durations
// without surrounding spaces; strings as given) and names what it wants.
func TestSettingValuesParseAndNameWhatTheyWant(t *testing.T) {
	c := Defaults()
	byEnv := map[string]Setting{}
	for _, s := range c.Settings() {
		byEnv[s.Env] = s
	}
	for env, v := range map[string]string{"POMOCORE_BATCH_SIZE": " 50 ", "POMOCORE_MAX_DURATION": "1.5", "POMOCORE_REDIS_TLS": "true",
		"POMOCORE_BLOCK": " 250ms", "POMOCORE_TRIM_IGNORE_GROUPS": "a, ,b", "REDIS_PASSWORD": " p w "} {
		if err := byEnv[env].Value.Set(v); err != nil {
			t.Errorf("%s=%q: %v", env, v, err)
		}
	}
	if c.BatchSize != 50 || c.MaxDuration != 1.5 || !c.RedisTLS || c.Block != 250*time.Millisecond ||
		strings.Join(c.TrimIgnoreGroups, "|") != "a|b" || c.RedisPassword != " p w " {
		t.Errorf("parsed: %+v", c)
	}
	for env, want := range map[string]string{"POMOCORE_BATCH_SIZE": "an integer", "POMOCORE_MAX_DURATION": "a number",
		"POMOCORE_REDIS_TLS": "true or false", "POMOCORE_BLOCK": "a duration"} {
		if err := byEnv[env].Value.Set("x"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=x: %v, want an error saying %q", env, err, want)
		}
	}
	if s := byEnv["REDIS_PASSWORD"]; s.FlagValue().String() != "" || s.Value.String() != " p w " {
		t.Errorf("a secret's flag value shows %q", s.FlagValue().String())
	}
}
