package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// The main server's StreamConfig writes pattern_match_stream and created
// pattern_match_group: the defaults are those names.
func TestConfigDefaultsMatchTheContract(t *testing.T) {
	c, err := loadConfig("run", nil, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Reader.Stream != "pattern_match_stream" || c.Reader.Group != "pattern_match_group" ||
		c.Committer.DeadStream != "pattern_match_stream:dead" || c.Committer.SessionStream != "session_score_stream" ||
		c.Pipeline.Limits.RejectUnknownFields || c.Committer.DedupWindow != 2*time.Hour ||
		c.TimeZone != "Asia/Seoul" || c.Pipeline.BatchSize != 2000 || c.Pipeline.KeyPrefix != "leaderboard" || c.DataDir != "./pomocore-data" ||
		c.EmbeddedRedis != "127.0.0.1:6379" || c.LogFormat != "text" {
		t.Errorf("defaults = %+v", c)
	}
	if !strings.Contains(c.Reader.Consumer, "-") {
		t.Errorf("consumer %q: want host-pid", c.Reader.Consumer)
	}
	for env, v := range map[string]string{"POMOCORE_DEDUP_WINDOW": "10m", "POMOCORE_DEDUP_MAX": "0", "POMOCORE_TRIM_MAX_AGE": "-1s"} {
		if _, err := loadConfig("run", nil, envOf(map[string]string{env: v}), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%s=%s: %v, want an error naming it", env, v, err)
		}
	}
	c, err = loadConfig("run", nil, envOf(map[string]string{"POMOCORE_DEDUP_WINDOW": "0", "POMOCORE_ALLOW_UNKNOWN_FIELDS": "false",
		"POMOCORE_TRIM_IGNORE_GROUPS": "leaderboard_group, other"}), &bytes.Buffer{})
	if err != nil || c.Committer.DedupWindow != 0 || !c.Pipeline.Limits.RejectUnknownFields || len(c.Reader.TrimIgnoreGroups) != 2 || c.Reader.TrimIgnoreGroups[0] != "leaderboard_group" {
		t.Errorf("settings not read: %+v, %v", c, err)
	}
}

func TestConfigEnvThenFlags(t *testing.T) {
	c, err := loadConfig("run", []string{"-group", "flag-group", "-batch-size", "50"}, envOf(map[string]string{
		"POMOCORE_STREAM": "pattern_match_stream", "POMOCORE_GROUP": "pattern_match_group",
		"REDIS_ADDR": "a:1, b:2", "REDIS_MODE": "cluster", "REDIS_REPLICA_WAITS": "1", "POMOCORE_BLOCK": "250ms", "APP_ENV": "prod", "MONGO_URI": "mongodb://x",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Reader.Stream != "pattern_match_stream" || c.Reader.Group != "flag-group" || c.Pipeline.BatchSize != 50 ||
		c.Pipeline.Block != 250*time.Millisecond || len(c.Redis.Addrs) != 2 || c.Redis.Addrs[1] != "b:2" ||
		c.Redis.Mode != "cluster" || c.Committer.ReplicaWaits != 1 {
		t.Errorf("config = %+v", c)
	}
	if c.Committer.DeadStream != "pattern_match_stream:dead" {
		t.Errorf("dead stream = %q, want it to follow the stream", c.Committer.DeadStream)
	}
	if c.LogFormat != "json" {
		t.Errorf("prod log format = %q, want json", c.LogFormat)
	}
}

func TestConfigBadValuesNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"POMOCORE_BATCH_SIZE": "many"}, nil, "POMOCORE_BATCH_SIZE"},
		{map[string]string{"POMOCORE_BATCH_SIZE": "0"}, nil, "POMOCORE_BATCH_SIZE"},
		{map[string]string{"POMOCORE_TIMEZONE": "Mars/Olympus"}, nil, "POMOCORE_TIMEZONE"},
		{map[string]string{"POMOCORE_BLOCK": "forever"}, nil, "POMOCORE_BLOCK"},
		{map[string]string{"POMOCORE_BLOCK": "1m"}, nil, "POMOCORE_BLOCK"},
		{map[string]string{"APP_ENV": "prod"}, nil, "REDIS_ADDR"},
		{map[string]string{"APP_ENV": "prod", "REDIS_ADDR": "r:1"}, nil, "MONGO_URI"},
		{map[string]string{"POMOCORE_LOG_LEVEL": "loud"}, nil, "POMOCORE_LOG_LEVEL"},
		{map[string]string{"POMOCORE_MAX_DURATION": "-1"}, nil, "POMOCORE_MAX_DURATION"},
		{map[string]string{"POMOCORE_REDIS_TLS": "sometimes"}, nil, "POMOCORE_REDIS_TLS"},
		{map[string]string{"POMOCORE_MONGO_MAX_STATEMENTS": "500"}, nil, "POMOCORE_MONGO_MAX_STATEMENTS"},
		{nil, []string{"-stream", ""}, "POMOCORE_STREAM"},
		{map[string]string{"POMOCORE_RETENTION_DAY": "1h"}, nil, "POMOCORE_RETENTION_DAY"},
		{map[string]string{"POMOCORE_LLM_WORKERS": "0"}, nil, "POMOCORE_LLM_WORKERS"},
		{map[string]string{"POMOCORE_PATTERN_RELOAD": "-1s"}, nil, "POMOCORE_PATTERN_RELOAD"},
		{nil, []string{"-no-such-flag"}, "no-such-flag"},
		{map[string]string{"REDIS_ADDR": "a:1,b:2"}, nil, "REDIS_MODE"},
		{map[string]string{"REDIS_ADDR": "a:1", "REDIS_MODE": "ring"}, nil, "REDIS_MODE"},
		{map[string]string{"REDIS_ADDR": "a:1", "REDIS_MODE": "sentinel"}, nil, "master name"},
		{map[string]string{"REDIS_REPLICA_WAITS": "-1"}, nil, "REDIS_REPLICA_WAITS"},
		{map[string]string{"POMOCORE_DEAD_STREAM": "pattern_match_stream"}, nil, "POMOCORE_DEAD_STREAM"},
		{map[string]string{"POMOCORE_SESSION_STREAM": "pattern_match_stream"}, nil, "POMOCORE_SESSION_STREAM"},
	} {
		_, err := loadConfig("run", tc.args, envOf(tc.env), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v args %v: err = %v, want one naming %s", tc.env, tc.args, err, tc.want)
		}
	}
}

func TestRunMainExitCodes(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := runMain([]string{"settings"}, envOf(nil), &out, &errOut); code != 0 || !strings.Contains(out.String(), "REDIS_ADDR") {
		t.Errorf("settings: code %d, out %q", code, out.String())
	}
	if code := runMain([]string{"nope"}, envOf(nil), &out, &errOut); code != 2 {
		t.Errorf("unknown command: code %d", code)
	}
	errOut.Reset()
	if code := runMain([]string{"run"}, envOf(map[string]string{"POMOCORE_BATCH_SIZE": "x"}), &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "POMOCORE_BATCH_SIZE") {
		t.Errorf("bad setting: code %d, stderr %q", code, errOut.String())
	}
}

// Help text never shows a secret's value: `pomocore run -h` and a mistyped
// flag print the flag defaults, which were the environment's values.
func TestHelpTextShowsNoSecret(t *testing.T) {
	env := envOf(map[string]string{"REDIS_PASSWORD": "hunter2-redis", "OPENAI_API_KEY": "sk-test-openai-key",
		"MONGO_URI": "mongodb://admin:s3cr3t-mongo@db:27017/"})
	for _, args := range [][]string{{"run", "-h"}, {"run", "-no-such-flag"}, {"bench", "-h"}} {
		var out, errOut bytes.Buffer
		runMain(args, env, &out, &errOut)
		text := out.String() + errOut.String()
		if !strings.Contains(text, "redis-password") && args[0] == "run" {
			t.Errorf("%v: no flag list:\n%s", args, text)
		}
		for _, secret := range []string{"hunter2-redis", "sk-test-openai-key", "s3cr3t-mongo"} {
			if strings.Contains(text, secret) {
				t.Errorf("%v prints %q", args, secret)
			}
		}
	}
}

// The usage text names every command runMain dispatches.
func TestUsageListsEveryCommand(t *testing.T) {
	var out bytes.Buffer
	runMain([]string{"help"}, envOf(nil), &out, &out)
	for _, cmd := range []string{"run", "settings", "classify", "eval", "patterns list", "patterns import", "patterns add|remove",
		"patterns suggest", "leaderboard top|rank", "leaderboard rebuild", "bench", "doctor", "compare", "learn"} {
		if !strings.Contains(out.String(), cmd) {
			t.Errorf("usage lacks %q:\n%s", cmd, out.String())
		}
	}
}

// Each package validates its own config; the command names the setting.
// POMOCORE_SHUTDOWN_TIMEOUT=0s means no grace, not the 30 s default.
func TestPipelineSettingsAreValidatedByThePipelineAndNamed(t *testing.T) {
	for env, v := range map[string]string{"POMOCORE_BATCH_SIZE": "10001", "POMOCORE_CLAIM_IDLE": "50ms", "POMOCORE_MAX_DELIVERIES": "-1",
		"POMOCORE_PARTITION": "64", "POMOCORE_RETENTION_DAY": "1h", "POMOCORE_MAX_DURATION": "-5", "POMOCORE_MAX_FIELD_BYTES": "10"} {
		_, err := loadConfig("run", nil, envOf(map[string]string{env: v}), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%s=%s: %v, want an error naming it", env, v, err)
		}
	}
	c, err := loadConfig("run", nil, envOf(map[string]string{"POMOCORE_SHUTDOWN_TIMEOUT": "0s"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if d := c.PipelineConfig(time.UTC).ShutdownTimeout; d == nil || *d != 0 {
		t.Errorf("shutdown timeout 0s maps to %v, want 0 (stop at once)", d)
	}
}

// A rule the reader and the committer both check (the stream's name) is
// reported once, under the setting.
func TestConfigErrorNamesEachSettingOnce(t *testing.T) {
	_, err := loadConfig("run", []string{"-stream", ""}, envOf(nil), &bytes.Buffer{})
	if err == nil || strings.Count(err.Error(), "POMOCORE_STREAM") != 1 {
		t.Errorf("err = %v, want POMOCORE_STREAM named once", err)
	}
}

// A setting set to zero means zero: where zero cannot work, the owning
// package's Validate refuses it and the error names the setting (no list
// of settings whose zero is checked apart).
func TestZeroWhereZeroCannotWorkIsRefusedNamingTheSetting(t *testing.T) {
	for _, env := range []string{"POMOCORE_BATCH_SIZE", "POMOCORE_BLOCK", "POMOCORE_CONSUMER_IDLE", "POMOCORE_MAX_DELIVERIES",
		"POMOCORE_MAX_DURATION", "POMOCORE_MAX_FIELD_BYTES", "POMOCORE_CLAIM_IDLE", "POMOCORE_DEDUP_MAX", "POMOCORE_MAX_BATCH_BYTES",
		"POMOCORE_DEAD_VALUE_MAX", "POMOCORE_SLOW_STORE", "POMOCORE_MODEL_THRESHOLD", "POMOCORE_LEARN_MIN_COUNT",
		"POMOCORE_LEARN_MIN_CONFIDENCE", "POMOCORE_LEARN_MAX_LABELS", "POMOCORE_LLM_WAIT_MAX", "POMOCORE_LLM_CACHE", "POMOCORE_LLM_WORKERS",
		"POMOCORE_LLM_BATCH", "POMOCORE_LLM_TIMEOUT", "POMOCORE_STORE_TIMEOUT", "POMOCORE_MONGO_MAX_STATEMENTS"} {
		v := "0"
		if strings.Contains(env, "BLOCK") || strings.Contains(env, "IDLE") || strings.Contains(env, "SLOW") || strings.Contains(env, "TIMEOUT") {
			v = "0s"
		}
		_, err := loadConfig("run", nil, envOf(map[string]string{env: v}), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), env+":") {
			t.Errorf("%s=%s: %v, want an error naming it", env, v, err)
		}
	}
	for _, env := range []string{"POMOCORE_SHUTDOWN_TIMEOUT", "POMOCORE_LLM_WAIT", "POMOCORE_CLAIM_INTERVAL", "POMOCORE_LEARN_INTERVAL", "POMOCORE_DEDUP_WINDOW",
		"POMOCORE_LLM_LINGER"} {
		if _, err := loadConfig("run", nil, envOf(map[string]string{env: "0s"}), &bytes.Buffer{}); err != nil {
			t.Errorf("%s=0s (meaningful): %v", env, err)
		}
	}
}
