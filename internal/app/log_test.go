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
	cfg.Redis.Password = "hunter2-redis-password"
	cfg.Mongo.URI = "mongodb://admin:s3cr3t-mongo-password@db:27017/?authSource=admin"
	cfg.OpenAIKey = "sk-test-openai-key"
	cfg.AdminToken = "admin-token-0123456789"
	for _, format := range []string{"text", "json"} {
		cfg.LogFormat = format
		log := NewLogger(cfg, &buf)
		log.Info("connect", "uri", cfg.Mongo.URI, "err", errors.New("auth failed for s3cr3t-mongo-password"), "key", cfg.OpenAIKey,
			"auth", "Bearer "+cfg.AdminToken)
		log.Warn("redis "+"x", slog.String("password", cfg.Redis.Password))
	}
	for _, secret := range []string{"hunter2-redis", "s3cr3t-mongo", "sk-test-openai-key", "admin:s3cr3t", "admin-token-0123456789"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "[REDACTED]") {
		t.Errorf("nothing redacted:\n%s", buf.String())
	}
}

// A short secret is not masked in log text (masking it shows where it is
// and mangles ordinary words: "pipeline running" became "[REDACTED]
// running", "retrying" "retr[REDACTED]ing"); it draws a start-up warning
// instead. A URI is shown as url.URL.Redacted shows it (issue 27 item 4).
func TestLoggerLeavesWordsAloneAndWarnsOfShortSecrets(t *testing.T) {
	var buf bytes.Buffer
	cfg := Defaults()
	cfg.Redis.Password = "pipeline"
	cfg.AdminToken = "y"
	cfg.Mongo.URI = "mongodb://u:zv@db:27017/"
	log := NewLogger(cfg, &buf)
	log.Info("pipeline running", "state", "retrying", "err", errors.New("retrying in 1s"), "uri", cfg.Mongo.URI)
	out := buf.String()
	for _, want := range []string{"pipeline running", "state=retrying", "retrying in 1s", "mongodb://u:xxxxx@db:27017/"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, redactMark) || strings.Contains(out, "u:zv@") {
		t.Errorf("log masks a word or shows the URI's password:\n%s", out)
	}
	for _, name := range []string{"REDIS_PASSWORD", "POMOCORE_ADMIN_TOKEN", "MONGO_URI"} {
		if !strings.Contains(out, "level=WARN") || !strings.Contains(out, name) {
			t.Errorf("no start-up warning naming the short secret %s:\n%s", name, out)
		}
	}
	buf.Reset()
	cfg = Defaults()
	cfg.Redis.Password = "a-long-enough-redis-password"
	NewLogger(cfg, &buf).Info("up")
	if strings.Contains(buf.String(), "WARN") {
		t.Errorf("a long secret draws a warning:\n%s", buf.String())
	}
}

const redactMark = "[REDACTED]"

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
	if c.Pipeline.BatchSize != 50 || c.Pipeline.Limits.MaxDuration != 1.5 || !c.Redis.TLS || c.Pipeline.Block != 250*time.Millisecond ||
		strings.Join(c.Reader.TrimIgnoreGroups, "|") != "a|b" || c.Redis.Password != " p w " {
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
