package app

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// Config is every setting of the application, as cmd/pomocore reads them
// from the environment and flags (see Settings). Defaults returns the
// defaults; Validate checks it, naming each setting; the methods ending in
// Config map it onto each package's configuration.
//
// To add a setting: a field here, its default in Defaults, a line in
// Settings, its rule in Validate (or in the owning package's Validate,
// named through the mapping), and the mapping.
type Config struct {
	AppEnv string

	RedisAddrs    []string
	RedisUsername string
	RedisPassword string
	RedisDB       int
	RedisIdentity string
	RedisTLS      bool
	RedisTLSCA    string
	RedisMode     string
	RedisMaster   string
	ReplicaWaits  int
	EmbeddedRedis string

	MongoURI        string
	MongoDatabase   string
	MongoStatements int
	DataDir         string

	OpenAIKey     string
	OpenAIBaseURL string
	LLMModel      string
	LLMTimeout    time.Duration
	LLMCache      int
	LLMWorkers    int
	LLMSendPath   bool
	LLMBatch      int
	LLMLinger     time.Duration
	LLMWait       time.Duration
	LLMWaitMax    int

	Stream, Group, Consumer  string
	DeadStream, SessionStrm  string
	KeyPrefix                string
	TimeZone                 string
	TaxonomyFile             string
	PatternReload            time.Duration
	BuiltinPatterns          string
	RetentionDay             time.Duration
	RetentionWeek            time.Duration
	RetentionMonth           time.Duration
	TrimInput                bool
	DeadMaxLen               int
	BatchSize                int
	Block                    time.Duration
	ClaimIdle, ClaimInterval time.Duration
	ConsumerIdle             time.Duration
	MaxDeliveries            int
	MaxDuration              float64
	MaxFieldBytes            int
	AllowUnknownFields       bool
	DedupWindow              time.Duration
	DedupMax                 int
	TrimIgnoreGroups         []string
	TrimMaxAge               time.Duration
	ShutdownTimeout          time.Duration
	StoreTimeout             time.Duration
	Partition                int
	Partitions               int
	StartID                  string
	GroupRecreateAt          string
	MaxBatchBytes            int
	DeadValueMax             int
	SlowStore                time.Duration
	MongoPerDocument         string

	Shadow bool

	AdminToken         string
	ModelFile          string
	ModelThreshold     float64
	LearnInterval      time.Duration
	LearnMaxLabels     int
	LearnPromote       bool
	LearnMinCount      int
	LearnMinConfidence float64

	HTTPAddr  string
	LogLevel  string
	LogFormat string
}

// Defaults returns the default settings; the consumer name is
// <host>-<pid>.
func Defaults() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "pomocore"
	}
	return Config{
		AppEnv:             "dev",
		EmbeddedRedis:      "127.0.0.1:6379",
		MongoDatabase:      "pomocore",
		MongoStatements:    90,
		DataDir:            "./pomocore-data",
		Stream:             "pattern_match_stream",
		Partitions:         1,
		Group:              "pattern_match_group",
		Consumer:           fmt.Sprintf("%s-%d", host, os.Getpid()),
		SessionStrm:        "session_score_stream",
		KeyPrefix:          "leaderboard",
		TimeZone:           "Asia/Seoul",
		BatchSize:          2000,
		Block:              time.Second,
		ClaimIdle:          time.Minute,
		ConsumerIdle:       time.Hour,
		MaxDeliveries:      10,
		MaxDuration:        86400,
		MaxFieldBytes:      8192,
		AllowUnknownFields: true,
		DedupWindow:        2 * time.Hour,
		DedupMax:           200_000_000,
		ShutdownTimeout:    30 * time.Second,
		StoreTimeout:       10 * time.Second,
		StartID:            "0",
		MaxBatchBytes:      redis.DefaultMaxBatchBytes,
		DeadValueMax:       redis.DefaultDeadValueMax,
		SlowStore:          2500 * time.Millisecond,
		MongoPerDocument:   "auto",
		ModelThreshold:     0.9,
		LearnInterval:      6 * time.Hour,
		LearnMaxLabels:     100000,
		LearnMinCount:      5,
		LearnMinConfidence: 0.95,
		PatternReload:      time.Minute,
		BuiltinPatterns:    "fallback",
		LLMModel:           "gpt-4o-mini",
		LLMTimeout:         10 * time.Second,
		LLMCache:           100000,
		LLMWorkers:         4,
		LLMBatch:           30,
		LLMLinger:          200 * time.Millisecond,
		LLMWait:            30 * time.Second,
		LLMWaitMax:         10000,
		LogLevel:           "info",
		LogFormat:          "text",
	}
}

// Setting is one configurable value: its environment variable, its flag,
// its help, whether it is a secret, and the field it sets.
type Setting struct {
	Env, Flag, Help string
	Secret          bool
	Value           flag.Value
}

// FlagValue is the setting's value for a flag set: a secret's value is
// never shown (the help text prints a flag's value as its default).
func (s Setting) FlagValue() flag.Value {
	if s.Secret {
		return secretValue{s.Value}
	}
	return s.Value
}

// Settings lists every setting, bound to c's fields.
func (c *Config) Settings() []Setting {
	return []Setting{
		{"APP_ENV", "app-env", "deployment environment; prod refuses the embedded Redis and store", false, strVal(&c.AppEnv)},
		{"REDIS_ADDR", "redis-addr", "Redis host:port (comma-separated for several nodes); unset: embedded Redis", false, listVal(&c.RedisAddrs)},
		{"REDIS_MODE", "redis-mode", "standalone, cluster (REDIS_ADDR lists seed nodes) or sentinel (REDIS_ADDR lists Sentinels)", false, strVal(&c.RedisMode)},
		{"REDIS_MASTER_NAME", "redis-master-name", "Sentinel master name (REDIS_MODE=sentinel)", false, strVal(&c.RedisMaster)},
		{"REDIS_REPLICA_WAITS", "redis-replica-waits", "replicas that must hold each commit step before the next (WAIT); 0: none", false, intVal(&c.ReplicaWaits)},
		{"REDIS_PASSWORD", "redis-password", "Redis password (never logged)", true, strVal(&c.RedisPassword)},
		{"POMOCORE_REDIS_USERNAME", "redis-username", "Redis ACL user name", false, strVal(&c.RedisUsername)},
		{"POMOCORE_REDIS_DB", "redis-db", "Redis database number", false, intVal(&c.RedisDB)},
		{"POMOCORE_REDIS_IDENTITY", "redis-identity", "name of the Redis in partition claims (the same on every instance reading it); unset: its addresses", false, strVal(&c.RedisIdentity)},
		{"POMOCORE_REDIS_TLS", "redis-tls", "connect to Redis over TLS", false, boolVal(&c.RedisTLS)},
		{"POMOCORE_REDIS_TLS_CA_FILE", "redis-tls-ca-file", "PEM file of CAs to trust for Redis TLS (implies TLS)", false, strVal(&c.RedisTLSCA)},
		{"POMOCORE_EMBEDDED_REDIS_ADDR", "embedded-redis-addr", "address of the embedded Redis when REDIS_ADDR is unset (a free port if taken)", false, strVal(&c.EmbeddedRedis)},
		{"MONGO_URI", "mongo-uri", "MongoDB URI (never logged); unset: SQLite store in the data dir", true, strVal(&c.MongoURI)},
		{"MONGO_DATABASE", "mongo-database", "MongoDB database name", false, strVal(&c.MongoDatabase)},
		{"POMOCORE_MONGO_MAX_STATEMENTS", "mongo-max-statements", "most write statements or ids per MongoDB command", false, intVal(&c.MongoStatements)},
		{"POMOCORE_DATA_DIR", "data-dir", "directory of the embedded SQLite store", false, strVal(&c.DataDir)},
		{"OPENAI_API_KEY", "openai-api-key", "API key of the LLM fallback (never logged); unset: no LLM fallback", true, strVal(&c.OpenAIKey)},
		{"OPENAI_BASE_URL", "openai-base-url", "OpenAI-compatible endpoint (vLLM, Ollama, ...); default OpenAI's", false, strVal(&c.OpenAIBaseURL)},
		{"POMOCORE_LLM_MODEL", "llm-model", "model of the LLM fallback", false, strVal(&c.LLMModel)},
		{"POMOCORE_LLM_TIMEOUT", "llm-timeout", "timeout of one LLM request", false, durVal(&c.LLMTimeout)},
		{"POMOCORE_LLM_CACHE", "llm-cache", "LLM answers remembered in memory (LRU)", false, intVal(&c.LLMCache)},
		{"POMOCORE_LLM_WORKERS", "llm-workers", "concurrent LLM requests", false, intVal(&c.LLMWorkers)},
		{"POMOCORE_LLM_SEND_PATH", "llm-send-path", "also send the URL's path to the LLM (default: app, host and title only)", false, boolVal(&c.LLMSendPath)},
		{"POMOCORE_LLM_BATCH", "llm-batch", "most activities asked about in one LLM request (1..100)", false, intVal(&c.LLMBatch)},
		{"POMOCORE_LLM_LINGER", "llm-linger", "how long unknown activities gather before an LLM request that is not full (0..5s)", false, durVal(&c.LLMLinger)},
		{"POMOCORE_LLM_WAIT", "llm-wait", "how long an activity nothing else decides waits, unacknowledged, for the LLM's answer before it counts as the default category (0: never waits)", false, durVal(&c.LLMWait)},
		{"POMOCORE_LLM_WAIT_MAX", "llm-wait-max", "most activities waiting for the LLM at once per pipeline; more count as the default category at once", false, intVal(&c.LLMWaitMax)},
		{"POMOCORE_STREAM", "stream", "input stream key (the main server's StreamConfig)", false, strVal(&c.Stream)},
		{"POMOCORE_GROUP", "group", "consumer group (the deployed one)", false, strVal(&c.Group)},
		{"POMOCORE_CONSUMER", "consumer", "this process's consumer name, unique per process", false, strVal(&c.Consumer)},
		{"POMOCORE_DEAD_STREAM", "dead-stream", "dead-letter stream (default <stream>:dead)", false, strVal(&c.DeadStream)},
		{"POMOCORE_SESSION_STREAM", "session-stream", "stream of session-end events", false, strVal(&c.SessionStrm)},
		{"POMOCORE_KEY_PREFIX", "key-prefix", "leaderboard key prefix", false, strVal(&c.KeyPrefix)},
		{"POMOCORE_TIMEZONE", "timezone", "IANA time zone of leaderboard periods", false, strVal(&c.TimeZone)},
		{"POMOCORE_TAXONOMY_FILE", "taxonomy-file", "JSON file of categories and work categories (default: built in)", false, strVal(&c.TaxonomyFile)},
		{"POMOCORE_PATTERN_RELOAD", "pattern-reload", "how often category_pattern is reloaded (0: never)", false, durVal(&c.PatternReload)},
		{"POMOCORE_BUILTIN_PATTERNS", "builtin-patterns", "the built-in pattern set: fallback (answers, as source builtin, what category_pattern is silent about; seeds it when empty), seed-only (only seeds an empty category_pattern) or off", false, strVal(&c.BuiltinPatterns)},
		{"POMOCORE_RETENTION_DAY", "retention-day", "daily leaderboard keys expire this long after their last increment (0: never)", false, durVal(&c.RetentionDay)},
		{"POMOCORE_RETENTION_WEEK", "retention-week", "weekly leaderboard keys' lifetime after their last increment (0: never)", false, durVal(&c.RetentionWeek)},
		{"POMOCORE_RETENTION_MONTH", "retention-month", "monthly leaderboard keys' lifetime after their last increment (0: never)", false, durVal(&c.RetentionMonth)},
		{"POMOCORE_TRIM_INPUT", "trim-input", "delete entries of the input and session streams once every consumer group of each (but the ignored) has acknowledged them", false, boolVal(&c.TrimInput)},
		{"POMOCORE_TRIM_IGNORE_GROUPS", "trim-ignore-groups", "consumer groups nobody reads, not waited for by trimming (comma-separated, e.g. leaderboard_group)", false, listVal(&c.TrimIgnoreGroups)},
		{"POMOCORE_TRIM_MAX_AGE", "trim-max-age", "how long entries are kept for an ignored group that has not acknowledged them (0: not at all)", false, durVal(&c.TrimMaxAge)},
		{"POMOCORE_DEAD_MAXLEN", "dead-maxlen", "keep about this many dead letters (0: all)", false, intVal(&c.DeadMaxLen)},
		{"POMOCORE_BATCH_SIZE", "batch-size", "most entries per read and batch (1..10000)", false, intVal(&c.BatchSize)},
		{"POMOCORE_BLOCK", "block", "how long one read waits for new entries", false, durVal(&c.Block)},
		{"POMOCORE_CLAIM_IDLE", "claim-idle", "idle time after which another consumer's pending entries are reclaimed (at least 100ms; entries of a batch in hand are touched so that they never look idle)", false, durVal(&c.ClaimIdle)},
		{"POMOCORE_CLAIM_INTERVAL", "claim-interval", "how often to scan for idle entries (default claim-idle/2)", false, durVal(&c.ClaimInterval)},
		{"POMOCORE_CONSUMER_IDLE", "consumer-idle", "idle time after which another consumer with nothing pending is removed from the group", false, durVal(&c.ConsumerIdle)},
		{"POMOCORE_MAX_DELIVERIES", "max-deliveries", "deliveries after which an entry is dead-lettered", false, intVal(&c.MaxDeliveries)},
		{"POMOCORE_MAX_DURATION", "max-duration", "largest accepted duration in seconds", false, floatVal(&c.MaxDuration)},
		{"POMOCORE_MAX_FIELD_BYTES", "max-field-bytes", "largest accepted field value in bytes", false, intVal(&c.MaxFieldBytes)},
		{"POMOCORE_ALLOW_UNKNOWN_FIELDS", "allow-unknown-fields", "accept entries with fields the contract does not name, counted and logged once per name (false: dead-letter them)", false, boolVal(&c.AllowUnknownFields)},
		{"POMOCORE_DEDUP_WINDOW", "dedup-window", "how long a committed pomodoroUsageLogId is remembered, so that the producer's retries under new stream ids count once, in the stream ids' time (Redis's clock) (0: off)", false, durVal(&c.DedupWindow)},
		{"POMOCORE_DEDUP_MAX", "dedup-max", "most activities remembered for the dedup window, over 64 Redis keys in slots of their own (~105 bytes each; below the cap memory is rate x window); past it each key forgets its oldest", false, intVal(&c.DedupMax)},
		{"POMOCORE_SHUTDOWN_TIMEOUT", "shutdown-timeout", "time to finish the batch in hand after SIGTERM", false, durVal(&c.ShutdownTimeout)},
		{"POMOCORE_STORE_TIMEOUT", "store-timeout", "timeout of one store call", false, durVal(&c.StoreTimeout)},
		{"POMOCORE_PARTITION", "partition", "number of this input stream when the input is split (0..63); the store records which stream owns it and refuses a second", false, intVal(&c.Partition)},
		{"POMOCORE_PARTITIONS", "partitions", "split the input stream into this many partition streams <stream>:pNN by userId (1..64; 1: off): every process routes when it holds the router lease and runs its pipeline on partition POMOCORE_PARTITION (see docs/cluster.md)", false, intVal(&c.Partitions)},
		{"POMOCORE_START_ID", "start-id", "where a consumer group that does not exist yet is created: 0 (the whole stream), $ (new entries only) or an entry id", false, strVal(&c.StartID)},
		{"POMOCORE_GROUP_RECREATE_AT", "group-recreate-at", "where to recreate the group if it vanishes while running and no position is known (the recorded commit position, the store's newest usage log or this process's memory come first): empty (stop and say what to do), 0 (all again) or $ (new entries only)", false, strVal(&c.GroupRecreateAt)},
		{"POMOCORE_MAX_BATCH_BYTES", "max-batch-bytes", "most bytes of entries read in one batch (at least one entry is always read)", false, intVal(&c.MaxBatchBytes)},
		{"POMOCORE_DEAD_VALUE_MAX", "dead-value-max", "bytes of each field a dead letter copies; longer values keep a prefix plus their size and SHA-256", false, intVal(&c.DeadValueMax)},
		{"POMOCORE_SLOW_STORE", "slow-store", "store-call latency above which the batch size halves (it grows back below half of it)", false, durVal(&c.SlowStore)},
		{"POMOCORE_MONGO_PER_DOCUMENT", "mongo-per-document", "update documents named by id one statement each (on), with one $in per target (off), or on only when the server is FerretDB (auto)", false, strVal(&c.MongoPerDocument)},
		{"POMOCORE_SHADOW", "shadow", "shadow mode: own consumer group, leaderboards under the shadow key prefix, no documents, no session events, no trimming (see docs/cutover.md)", false, boolVal(&c.Shadow)},
		{"POMOCORE_ADMIN_TOKEN", "admin-token", "bearer token of the HTTP API's write endpoints (accepting a suggested pattern); unset: they are disabled (never logged)", true, strVal(&c.AdminToken)},
		{"POMOCORE_MODEL_FILE", "model-file", "the local model (JSON, from pomocore learn -o) loaded at start and replaced by each retraining; unset: trained from the store at start", false, strVal(&c.ModelFile)},
		{"POMOCORE_MODEL_THRESHOLD", "model-threshold", "confidence at which the local model answers before the LLM (0 < t <= 1)", false, floatVal(&c.ModelThreshold)},
		{"POMOCORE_LEARN_INTERVAL", "learn-interval", "how often the model is retrained from the store (0: never; else at least 1m); promotion is checked as answers come and on this tick too", false, durVal(&c.LearnInterval)},
		{"POMOCORE_LEARN_MAX_LABELS", "learn-max-labels", "most trusted labels read from the store per training (-1: none, patterns only)", false, intVal(&c.LearnMaxLabels)},
		{"POMOCORE_LEARN_PROMOTE", "learn-promote", "turn domains and apps answered consistently by the model or the LLM into patterns (listed and revertible with pomocore patterns learned|revert)", false, boolVal(&c.LearnPromote)},
		{"POMOCORE_LEARN_MIN_COUNT", "learn-min-count", "different activities of one domain or app answered alike before it is promoted (at least 2)", false, intVal(&c.LearnMinCount)},
		{"POMOCORE_LEARN_MIN_CONFIDENCE", "learn-min-confidence", "least confidence of an answer that counts toward promotion (0 < c <= 1; LLM answers count as 1)", false, floatVal(&c.LearnMinConfidence)},
		{"POMOCORE_HTTP_ADDR", "http-addr", "address of /metrics, /healthz, /readyz and the read API, e.g. :8080 (empty: no HTTP server)", false, strVal(&c.HTTPAddr)},
		{"POMOCORE_LOG_LEVEL", "log-level", "debug, info, warn or error", false, strVal(&c.LogLevel)},
		{"POMOCORE_LOG_FORMAT", "log-format", "text or json (json when APP_ENV=prod and unset)", false, strVal(&c.LogFormat)},
	}
}

// Complete fills in the defaults that follow other settings: the
// dead-letter stream follows the stream, the log format is json in prod
// unless set, and shadow mode has defaults of its own (see shadow.go;
// isSet tells whether a setting was given, by its environment variable).
func (c *Config) Complete(isSet func(env string) bool) {
	if !isSet("POMOCORE_LOG_FORMAT") && c.AppEnv == "prod" {
		c.LogFormat = "json"
	}
	c.completeShadow(isSet)
	if c.DeadStream == "" {
		c.DeadStream = c.Stream + ":dead"
	}
}

// Validate checks the settings, naming each setting in its error. Rules of
// one package are that package's (its Validate, named through the mapping);
// here are the rules of settings as such.
func (c *Config) Validate() error {
	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	named := func(err error, fields map[string]string, what string) {
		if err == nil {
			return
		}
		for _, e := range unjoin(err) {
			field, msg := configField(e)
			if fields[field] != "" {
				bad(fields[field], "%s", msg)
			} else {
				bad(what, "%v", e)
			}
		}
	}
	switch c.AppEnv {
	case "dev", "prod":
	default:
		bad("APP_ENV", "%q: want dev or prod", c.AppEnv)
	}
	if c.HTTPAddr != "" {
		if err := checkListenAddr(c.HTTPAddr); err != nil {
			bad("POMOCORE_HTTP_ADDR", "%v", err)
		}
	}
	if c.AppEnv == "prod" {
		if len(c.RedisAddrs) == 0 {
			bad("REDIS_ADDR", "required when APP_ENV=prod (the embedded Redis is for development)")
		}
		if c.MongoURI == "" {
			bad("MONGO_URI", "required when APP_ENV=prod (the embedded SQLite store is for development)")
		}
	}
	if len(c.RedisAddrs) > 0 {
		if err := c.RedisConfig().Validate(); err != nil {
			bad("REDIS_ADDR/REDIS_MODE", "%v", err)
		}
	}
	if strings.TrimSpace(c.KeyPrefix) == "" {
		bad("POMOCORE_KEY_PREFIX", "must not be empty") // the pipeline's zero is its default
	}
	if c.MongoURI != "" && c.MongoDatabase == "" {
		bad("MONGO_DATABASE", "must not be empty")
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		bad("POMOCORE_TIMEZONE", "%q is not an IANA time zone (e.g. Asia/Seoul)", c.TimeZone)
	}
	if c.Block >= 10*time.Second {
		bad("POMOCORE_BLOCK", "%v: want less than 10s (the Redis read timeout)", c.Block)
	}
	if c.ShutdownTimeout < 0 {
		bad("POMOCORE_SHUTDOWN_TIMEOUT", "%v: want >= 0", c.ShutdownTimeout)
	}
	if c.LLMTimeout <= 0 {
		bad("POMOCORE_LLM_TIMEOUT", "%v: want > 0", c.LLMTimeout)
	}
	if c.LLMCache < 1 {
		bad("POMOCORE_LLM_CACHE", "%d: want >= 1", c.LLMCache)
	}
	if c.LLMBatch < 1 || c.LLMBatch > 100 {
		bad("POMOCORE_LLM_BATCH", "%d: want 1..100", c.LLMBatch)
	}
	if c.LLMLinger < 0 || c.LLMLinger > 5*time.Second {
		bad("POMOCORE_LLM_LINGER", "%v: want 0..5s", c.LLMLinger)
	}
	if c.LLMWait < 0 {
		bad("POMOCORE_LLM_WAIT", "%v: want >= 0 (0: never wait)", c.LLMWait)
	}
	if c.LLMWaitMax < 1 {
		bad("POMOCORE_LLM_WAIT_MAX", "%d: want >= 1", c.LLMWaitMax)
	}
	if c.LLMWorkers < 1 || c.LLMWorkers > 64 {
		bad("POMOCORE_LLM_WORKERS", "%d: want 1..64", c.LLMWorkers)
	}
	if c.DedupWindow > 0 && c.DedupWindow < 30*time.Minute {
		bad("POMOCORE_DEDUP_WINDOW", "%v: want 0 (off) or at least 30m (the main server's producer retries for 30 minutes)", c.DedupWindow)
	}
	if c.DeadMaxLen < 0 {
		bad("POMOCORE_DEAD_MAXLEN", "%d: want >= 0", c.DeadMaxLen)
	}
	if c.PatternReload < 0 {
		bad("POMOCORE_PATTERN_RELOAD", "%v: want >= 0", c.PatternReload)
	}
	switch c.BuiltinPatterns {
	case "fallback", "seed-only", "off":
	default:
		bad("POMOCORE_BUILTIN_PATTERNS", "%q: want fallback (the built-in set answers where category_pattern is silent), seed-only or off", c.BuiltinPatterns)
	}
	if c.StoreTimeout <= 0 {
		bad("POMOCORE_STORE_TIMEOUT", "%v: want > 0", c.StoreTimeout)
	}
	if c.MongoStatements < 1 || c.MongoStatements > 99 {
		bad("POMOCORE_MONGO_MAX_STATEMENTS", "%d: want 1..99", c.MongoStatements)
	}
	if c.Partition < 0 {
		bad("POMOCORE_PARTITION", "%d: want 0..63", c.Partition)
	}
	c.validatePartitions(bad)
	switch c.MongoPerDocument {
	case "auto", "on", "off":
	default:
		bad("POMOCORE_MONGO_PER_DOCUMENT", "%q: want auto, on or off", c.MongoPerDocument)
	}
	lc := c.LearnConfig()
	if lc.Interval == 0 {
		lc.Interval = time.Hour // 0 is "never" here, not learn's default
	}
	named(lc.Validate(), learnSetting, "learning")
	// Zero means "the default" in the packages' configs, but a setting set
	// to zero means zero, which none of these can be; their other bounds are
	// the pipeline's own rules, named below.
	for _, z := range []struct {
		env  string
		zero bool
	}{{"POMOCORE_BATCH_SIZE", c.BatchSize == 0}, {"POMOCORE_BLOCK", c.Block == 0}, {"POMOCORE_CONSUMER_IDLE", c.ConsumerIdle == 0}, {"POMOCORE_MAX_DELIVERIES", c.MaxDeliveries == 0},
		{"POMOCORE_MAX_DURATION", c.MaxDuration == 0}, {"POMOCORE_MAX_FIELD_BYTES", c.MaxFieldBytes == 0}, {"POMOCORE_CLAIM_IDLE", c.ClaimIdle == 0},
		{"POMOCORE_DEDUP_MAX", c.DedupMax == 0}, {"POMOCORE_MAX_BATCH_BYTES", c.MaxBatchBytes == 0}, {"POMOCORE_DEAD_VALUE_MAX", c.DeadValueMax == 0},
		{"POMOCORE_SLOW_STORE", c.SlowStore == 0}, {"POMOCORE_MODEL_THRESHOLD", c.ModelThreshold == 0}, {"POMOCORE_LEARN_MIN_COUNT", c.LearnMinCount == 0},
		{"POMOCORE_LEARN_MIN_CONFIDENCE", c.LearnMinConfidence == 0}, {"POMOCORE_LEARN_MAX_LABELS", c.LearnMaxLabels == 0}} {
		if z.zero {
			bad(z.env, "0: want a positive value")
		}
	}
	errs = append(errs, c.validateShadow()...)
	named(c.PipelineConfig(time.UTC).Validate(), pipelineSetting, "pipeline")
	named(c.ReaderConfig().Validate(), redisSetting, "stream reader")
	named(c.CommitterConfig().Validate(), redisSetting, "committer")
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("POMOCORE_LOG_LEVEL", "%q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("POMOCORE_LOG_FORMAT", "%q: want text or json", c.LogFormat)
	}
	return errors.Join(dedup(errs)...)
}

// dedup drops errors that say what an earlier one said (the reader and the
// committer check the same stream names).
func dedup(errs []error) []error {
	seen := map[string]bool{}
	out := errs[:0]
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return out
}

// pipelineSetting names the setting of each pipeline.Config field that
// pipelineConfig maps.
var pipelineSetting = map[string]string{
	"BatchSize": "POMOCORE_BATCH_SIZE", "Block": "POMOCORE_BLOCK", "ClaimIdle": "POMOCORE_CLAIM_IDLE",
	"ClaimInterval": "POMOCORE_CLAIM_INTERVAL", "ConsumerIdle": "POMOCORE_CONSUMER_IDLE",
	"MaxDeliveries": "POMOCORE_MAX_DELIVERIES", "Partition": "POMOCORE_PARTITION",
	"Retention.Day": "POMOCORE_RETENTION_DAY", "Retention.Week": "POMOCORE_RETENTION_WEEK",
	"Retention.Month": "POMOCORE_RETENTION_MONTH", "Limits": "POMOCORE_MAX_DURATION/POMOCORE_MAX_FIELD_BYTES",
	"RetryMin": "pipeline retry backoff", "SlowStore": "POMOCORE_SLOW_STORE",
	"DecideWait": "POMOCORE_LLM_WAIT", "MaxWaiting": "POMOCORE_LLM_WAIT_MAX",
}

// learnSetting names the setting of each learn.Config field LearnConfig
// maps.
var learnSetting = map[string]string{
	"Interval": "POMOCORE_LEARN_INTERVAL", "Threshold": "POMOCORE_MODEL_THRESHOLD", "MaxLabels": "POMOCORE_LEARN_MAX_LABELS",
	"MinCount": "POMOCORE_LEARN_MIN_COUNT", "MinConfidence": "POMOCORE_LEARN_MIN_CONFIDENCE",
}

// configField returns the field and message of a package's config error,
// "" when err is not one.
func configField(err error) (field, msg string) {
	var ce *pomocore.ConfigError
	if errors.As(err, &ce) {
		return ce.Field, ce.Msg
	}
	return "", ""
}

// redisSetting names the setting of each redis.ReaderConfig and
// redis.CommitterConfig field that ReaderConfig and CommitterConfig map.
var redisSetting = map[string]string{
	"Stream": "POMOCORE_STREAM", "Group": "POMOCORE_GROUP", "Consumer": "POMOCORE_CONSUMER",
	"DeadStream": "POMOCORE_DEAD_STREAM", "SessionStream": "POMOCORE_SESSION_STREAM", "AlsoTrim": "POMOCORE_SESSION_STREAM",
	"TrimMaxAge": "POMOCORE_TRIM_MAX_AGE", "ReplicaWaits": "REDIS_REPLICA_WAITS",
	"DedupWindow": "POMOCORE_DEDUP_WINDOW", "DedupMax": "POMOCORE_DEDUP_MAX",
	"StartID": "POMOCORE_START_ID", "RecreateAt": "POMOCORE_GROUP_RECREATE_AT", "MaxBatchBytes": "POMOCORE_MAX_BATCH_BYTES",
	"DeadValueMax": "POMOCORE_DEAD_VALUE_MAX", "Namespace": "POMOCORE_GROUP",
}

// unjoin returns the errors errors.Join put together (err alone otherwise).
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// PipelineConfig is the pipeline configuration of the settings.
func (c *Config) PipelineConfig(loc *time.Location) pipeline.Config {
	shutdown := c.ShutdownTimeout
	if shutdown == 0 {
		shutdown = -1 // 0s: stop at once (the pipeline's zero is its default)
	}
	wait := c.LLMWait
	if c.OpenAIKey == "" {
		wait = 0 // no LLM: nothing is ever on its way
	}
	return pipeline.Config{
		BatchSize:     c.BatchSize,
		Block:         c.Block,
		ClaimIdle:     c.ClaimIdle,
		ClaimInterval: c.ClaimInterval,
		ConsumerIdle:  c.ConsumerIdle,
		MaxDeliveries: int64(c.MaxDeliveries),
		KeyPrefix:     c.KeyPrefix,
		Location:      loc,
		Limits: pomocore.Limits{
			MaxDuration:         c.MaxDuration,
			MaxFieldBytes:       c.MaxFieldBytes,
			RejectUnknownFields: !c.AllowUnknownFields,
		},
		Partition:       uint8(min(max(c.Partition, 0), 255)),
		Retention:       pipeline.Retention{Day: c.RetentionDay, Week: c.RetentionWeek, Month: c.RetentionMonth},
		TrimInput:       c.TrimInput,
		ShutdownTimeout: shutdown,
		SlowStore:       c.SlowStore,
		DecideWait:      wait,
		MaxWaiting:      c.LLMWaitMax,
	}
}

// secretValue is a flag.Value whose value is never shown.
type secretValue struct{ flag.Value }

func (secretValue) String() string { return "" }

// value is the flag.Value of a setting's field of type T.
type value[T any] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string
}

func (v value[T]) String() string {
	if v.p == nil {
		return ""
	}
	return v.format(*v.p)
}

func (v value[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return fmt.Errorf("%q is not %s", s, err)
	}
	*v.p = x
	return nil
}

// parsed is parse of the value without surrounding spaces, whose error
// says what the value should be.
func parsed[T any](parse func(string) (T, error), want string) func(string) (T, error) {
	return func(s string) (T, error) {
		x, err := parse(strings.TrimSpace(s))
		if err != nil {
			return x, errors.New(want)
		}
		return x, nil
	}
}

// boolValue is a value[bool] that a flag sets without an argument.
type boolValue struct{ value[bool] }

func (boolValue) IsBoolFlag() bool { return true }

func strVal(p *string) flag.Value {
	return value[string]{p, func(s string) (string, error) { return s, nil }, func(s string) string { return s }}
}
func intVal(p *int) flag.Value {
	return value[int]{p, parsed(strconv.Atoi, "an integer"), strconv.Itoa}
}
func floatVal(p *float64) flag.Value {
	parse := func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
	return value[float64]{p, parsed(parse, "a number"), func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }}
}
func boolVal(p *bool) flag.Value {
	return boolValue{value[bool]{p, parsed(strconv.ParseBool, "true or false"), strconv.FormatBool}}
}
func durVal(p *time.Duration) flag.Value {
	return value[time.Duration]{p, parsed(time.ParseDuration, "a duration (e.g. 500ms, 30s, 2m)"), time.Duration.String}
}
func listVal(p *[]string) flag.Value {
	parse := func(s string) ([]string, error) {
		var out []string
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		return out, nil
	}
	return value[[]string]{p, parse, func(l []string) string { return strings.Join(l, ",") }}
}

// RedisConfig is the Redis client configuration of the settings.
func (c *Config) RedisConfig() redis.Config {
	return redis.Config{Mode: c.RedisMode, Addrs: c.RedisAddrs, MasterName: c.RedisMaster,
		Username: c.RedisUsername, Password: c.RedisPassword,
		DB: c.RedisDB, TLS: c.RedisTLS, TLSCAFile: c.RedisTLSCA}
}

// CommitterConfig is the Redis committer configuration of the settings.
func (c *Config) CommitterConfig() redis.CommitterConfig {
	return redis.CommitterConfig{Stream: c.Stream, Group: c.Group, DeadStream: c.DeadStream, SessionStream: c.SessionStrm,
		DeadMaxLen: int64(c.DeadMaxLen), ReplicaWaits: c.ReplicaWaits, DedupWindow: c.DedupWindow, DedupMax: c.DedupMax,
		DeadValueMax: c.DeadValueMax, Namespace: c.shadowNamespace(), NoSessionEvents: c.Shadow, RecordScope: c.recordScope()}
}

// ReaderConfig is the Redis reader configuration of the settings.
func (c *Config) ReaderConfig() redis.ReaderConfig {
	return redis.ReaderConfig{Stream: c.Stream, Group: c.Group, Consumer: c.Consumer, AlsoTrim: []string{c.SessionStrm},
		TrimIgnoreGroups: c.TrimIgnoreGroups, TrimMaxAge: c.TrimMaxAge, StartID: c.StartID, RecreateAt: c.GroupRecreateAt,
		MaxBatchBytes: c.MaxBatchBytes, Namespace: c.shadowNamespace()}
}

// MongoConfig is the MongoDB store configuration of the settings.
func (c *Config) MongoConfig() mongo.Config {
	loc, _ := time.LoadLocation(c.TimeZone) // Validate names a bad zone; nil is the adapter's default
	return mongo.Config{URI: c.MongoURI, Database: c.MongoDatabase, Timeout: c.StoreTimeout, MaxStatements: c.MongoStatements,
		Location: loc, PerDocument: c.MongoPerDocument}
}

// LearnConfig is the learning loop's configuration of the settings.
func (c *Config) LearnConfig() learn.Config {
	return learn.Config{Interval: c.LearnInterval, Threshold: c.ModelThreshold, MaxLabels: c.LearnMaxLabels,
		Promote: c.LearnPromote, MinCount: c.LearnMinCount, MinConfidence: c.LearnMinConfidence}
}
