package app

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/redis"
)

// Config is every setting of the application, as cmd/pomocore reads them
// from the environment and flags (see Settings). It is made of the
// packages' configs (Redis, Mongo, Chain, Reader, Committer, Pipeline,
// Learn), whose fields the settings are bound to, and fields of its own.
// Defaults returns the defaults (the packages' DefaultConfig); Validate
// checks it, naming each setting; the methods ending in Config add what
// follows from other settings.
//
// To add a setting of a package: its field, default and rule in that
// package, and a line in Settings binding it. A setting of no package: a
// field here, its default in Defaults, its rule in Validate, and a line in
// Settings.
type Config struct {
	AppEnv string

	// Redis is the Redis client's configuration, its settings bound to its
	// fields (no address: the embedded Redis, whose client is the
	// wiring's; see App.Redis).
	Redis         redis.Config
	RedisIdentity string
	EmbeddedRedis string

	// Mongo is the MongoDB store's configuration, its settings bound to
	// its fields (no URI: the SQLite store in DataDir). Its Timeout is
	// POMOCORE_STORE_TIMEOUT, which bounds the SQLite store's calls too
	// (see StoreTimeout); Location follows TimeZone (see MongoConfig).
	Mongo   mongo.Config
	DataDir string

	OpenAIKey     string
	OpenAIBaseURL string
	LLMModel      string

	TimeZone        string
	TaxonomyFile    string
	PatternReload   time.Duration
	BuiltinPatterns string

	// Chain is the classifier chain's configuration: the settings of the
	// LLM fallback's calls are bound to its fields (Timeout is the LLM
	// client's too; the categories, the default and ModelThreshold, which
	// is Learn.Threshold, are the wiring's).
	Chain classify.ChainConfig

	// Reader is the stream reader's configuration, its settings bound to
	// its fields (the stream, group and consumer are the committer's too;
	// AlsoTrim is the session stream, Namespace the shadow's).
	Reader redis.ReaderConfig
	// Committer is the committer's configuration, its settings bound to
	// its fields (Stream and Group are Reader's).
	Committer redis.CommitterConfig

	// Pipeline is the pipeline's configuration, its settings bound to its
	// fields (Location follows TimeZone; DecideWait is 0 without an LLM).
	Pipeline pipeline.Config

	Shadow bool
	// Partitions is POMOCORE_PARTITIONS: how many partition streams the
	// main server's stream is routed into (1: none, the stream is read as is).
	Partitions int

	AdminToken string
	ModelFile  string
	// Learn is the learning loop's configuration, its settings bound to
	// its fields (Threshold is also the chain's ModelThreshold).
	Learn learn.Config

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
	reader := redis.DefaultReaderConfig()
	reader.Consumer = fmt.Sprintf("%s-%d", host, os.Getpid())
	return Config{
		AppEnv:          "dev",
		Redis:           redis.DefaultConfig(),
		EmbeddedRedis:   "127.0.0.1:6379",
		Mongo:           mongo.DefaultConfig(),
		DataDir:         "./pomocore-data",
		TimeZone:        "Asia/Seoul",
		PatternReload:   time.Minute,
		BuiltinPatterns: "fallback",
		LLMModel:        "gpt-4o-mini",
		LogLevel:        "info",
		LogFormat:       "text",
		Chain:           classify.DefaultChainConfig(),
		Reader:          reader,
		Committer:       redis.DefaultCommitterConfig(),
		Pipeline:        pipeline.DefaultConfig(),
		Partitions:      1,
		Learn:           learn.DefaultConfig(),
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
		{"REDIS_ADDR", "redis-addr", "Redis host:port (comma-separated for several nodes); unset: embedded Redis", false, listVal(&c.Redis.Addrs)},
		{"REDIS_MODE", "redis-mode", "standalone, cluster (REDIS_ADDR lists seed nodes) or sentinel (REDIS_ADDR lists Sentinels)", false, strVal(&c.Redis.Mode)},
		{"REDIS_MASTER_NAME", "redis-master-name", "Sentinel master name (REDIS_MODE=sentinel)", false, strVal(&c.Redis.MasterName)},
		{"REDIS_REPLICA_WAITS", "redis-replica-waits", "replicas that must hold each commit step before the next (WAIT); 0: none", false, intVal(&c.Committer.ReplicaWaits)},
		{"REDIS_PASSWORD", "redis-password", "Redis password (never logged)", true, strVal(&c.Redis.Password)},
		{"POMOCORE_REDIS_USERNAME", "redis-username", "Redis ACL user name", false, strVal(&c.Redis.Username)},
		{"POMOCORE_REDIS_DB", "redis-db", "Redis database number", false, intVal(&c.Redis.DB)},
		{"POMOCORE_REDIS_IDENTITY", "redis-identity", "name of the Redis in partition claims (the same on every instance reading it); unset: its addresses", false, strVal(&c.RedisIdentity)},
		{"POMOCORE_REDIS_TLS", "redis-tls", "connect to Redis over TLS", false, boolVal(&c.Redis.TLS)},
		{"POMOCORE_REDIS_TLS_CA_FILE", "redis-tls-ca-file", "PEM file of CAs to trust for Redis TLS (implies TLS)", false, strVal(&c.Redis.TLSCAFile)},
		{"POMOCORE_EMBEDDED_REDIS_ADDR", "embedded-redis-addr", "address of the embedded Redis when REDIS_ADDR is unset (a free port if taken)", false, strVal(&c.EmbeddedRedis)},
		{"MONGO_URI", "mongo-uri", "MongoDB URI (never logged); unset: SQLite store in the data dir", true, strVal(&c.Mongo.URI)},
		{"MONGO_DATABASE", "mongo-database", "MongoDB database name", false, strVal(&c.Mongo.Database)},
		{"POMOCORE_MONGO_MAX_STATEMENTS", "mongo-max-statements", "most write statements or ids per MongoDB command", false, intVal(&c.Mongo.MaxStatements)},
		{"POMOCORE_DATA_DIR", "data-dir", "directory of the embedded SQLite store", false, strVal(&c.DataDir)},
		{"OPENAI_API_KEY", "openai-api-key", "API key of the LLM fallback (never logged); unset: no LLM fallback", true, strVal(&c.OpenAIKey)},
		{"OPENAI_BASE_URL", "openai-base-url", "OpenAI-compatible endpoint (vLLM, Ollama, ...); default OpenAI's", false, strVal(&c.OpenAIBaseURL)},
		{"POMOCORE_LLM_MODEL", "llm-model", "model of the LLM fallback", false, strVal(&c.LLMModel)},
		{"POMOCORE_LLM_TIMEOUT", "llm-timeout", "timeout of one LLM request", false, durVal(&c.Chain.Timeout)},
		{"POMOCORE_LLM_CACHE", "llm-cache", "LLM answers remembered in memory (LRU)", false, intVal(&c.Chain.CacheSize)},
		{"POMOCORE_LLM_WORKERS", "llm-workers", "concurrent LLM requests", false, intVal(&c.Chain.Workers)},
		{"POMOCORE_LLM_SEND_PATH", "llm-send-path", "also send the URL's path to the LLM (default: app, host and title only)", false, boolVal(&c.Chain.SendPath)},
		{"POMOCORE_LLM_BATCH", "llm-batch", "most activities asked about in one LLM request (1..100)", false, intVal(&c.Chain.Batch)},
		{"POMOCORE_LLM_LINGER", "llm-linger", "how long unknown activities gather before an LLM request that is not full (0..5s)", false, durVal(&c.Chain.Linger)},
		{"POMOCORE_LLM_WAIT", "llm-wait", "how long an activity nothing else decides waits, unacknowledged, for the LLM's answer before it counts as the default category (0: never waits)", false, durVal(&c.Pipeline.DecideWait)},
		{"POMOCORE_LLM_WAIT_MAX", "llm-wait-max", "most activities waiting for the LLM at once per pipeline; more count as the default category at once", false, intVal(&c.Pipeline.MaxWaiting)},
		{"POMOCORE_STREAM", "stream", "input stream key (the main server's StreamConfig)", false, strVal(&c.Reader.Stream)},
		{"POMOCORE_GROUP", "group", "consumer group (the deployed one)", false, strVal(&c.Reader.Group)},
		{"POMOCORE_CONSUMER", "consumer", "this process's consumer name, unique per process", false, strVal(&c.Reader.Consumer)},
		{"POMOCORE_DEAD_STREAM", "dead-stream", "dead-letter stream (default <stream>:dead)", false, strVal(&c.Committer.DeadStream)},
		{"POMOCORE_SESSION_STREAM", "session-stream", "stream of session-end events", false, strVal(&c.Committer.SessionStream)},
		{"POMOCORE_KEY_PREFIX", "key-prefix", "leaderboard key prefix", false, strVal(&c.Pipeline.KeyPrefix)},
		{"POMOCORE_TIMEZONE", "timezone", "IANA time zone of leaderboard periods", false, strVal(&c.TimeZone)},
		{"POMOCORE_TAXONOMY_FILE", "taxonomy-file", "JSON file of categories and work categories (default: built in)", false, strVal(&c.TaxonomyFile)},
		{"POMOCORE_PATTERN_RELOAD", "pattern-reload", "how often category_pattern is reloaded (0: never)", false, durVal(&c.PatternReload)},
		{"POMOCORE_BUILTIN_PATTERNS", "builtin-patterns", "the built-in pattern set: fallback (answers, as source builtin, what category_pattern is silent about; seeds it when empty), seed-only (only seeds an empty category_pattern) or off", false, strVal(&c.BuiltinPatterns)},
		{"POMOCORE_RETENTION_DAY", "retention-day", "daily leaderboard keys expire this long after their last increment (0: never)", false, durVal(&c.Pipeline.Retention.Day)},
		{"POMOCORE_RETENTION_WEEK", "retention-week", "weekly leaderboard keys' lifetime after their last increment (0: never)", false, durVal(&c.Pipeline.Retention.Week)},
		{"POMOCORE_RETENTION_MONTH", "retention-month", "monthly leaderboard keys' lifetime after their last increment (0: never)", false, durVal(&c.Pipeline.Retention.Month)},
		{"POMOCORE_TRIM_INPUT", "trim-input", "delete entries of the input and session streams once every consumer group of each (but the ignored) has acknowledged them", false, boolVal(&c.Pipeline.TrimInput)},
		{"POMOCORE_TRIM_IGNORE_GROUPS", "trim-ignore-groups", "consumer groups nobody reads, not waited for by trimming (comma-separated, e.g. leaderboard_group)", false, listVal(&c.Reader.TrimIgnoreGroups)},
		{"POMOCORE_TRIM_MAX_AGE", "trim-max-age", "how long entries are kept for an ignored group that has not acknowledged them (0: not at all)", false, durVal(&c.Reader.TrimMaxAge)},
		{"POMOCORE_DEAD_MAXLEN", "dead-maxlen", "keep about this many dead letters (0: all)", false, int64Val(&c.Committer.DeadMaxLen)},
		{"POMOCORE_BATCH_SIZE", "batch-size", "most entries per read and batch (1..10000)", false, intVal(&c.Pipeline.BatchSize)},
		{"POMOCORE_BLOCK", "block", "how long one read waits for new entries", false, durVal(&c.Pipeline.Block)},
		{"POMOCORE_CLAIM_IDLE", "claim-idle", "idle time after which another consumer's pending entries are reclaimed (at least 100ms; entries of a batch in hand are touched so that they never look idle)", false, durVal(&c.Pipeline.ClaimIdle)},
		{"POMOCORE_CLAIM_INTERVAL", "claim-interval", "how often to scan for idle entries (default claim-idle/2)", false, durVal(&c.Pipeline.ClaimInterval)},
		{"POMOCORE_CONSUMER_IDLE", "consumer-idle", "idle time after which another consumer with nothing pending is removed from the group", false, durVal(&c.Pipeline.ConsumerIdle)},
		{"POMOCORE_MAX_DELIVERIES", "max-deliveries", "deliveries after which an entry is dead-lettered", false, int64Val(&c.Pipeline.MaxDeliveries)},
		{"POMOCORE_MAX_DURATION", "max-duration", "largest accepted duration in seconds", false, floatVal(&c.Pipeline.Limits.MaxDuration)},
		{"POMOCORE_MAX_FIELD_BYTES", "max-field-bytes", "largest accepted field value in bytes", false, intVal(&c.Pipeline.Limits.MaxFieldBytes)},
		{"POMOCORE_ALLOW_UNKNOWN_FIELDS", "allow-unknown-fields", "accept entries with fields the contract does not name, counted and logged once per name (false: dead-letter them)", false, notBoolVal(&c.Pipeline.Limits.RejectUnknownFields)},
		{"POMOCORE_DEDUP_WINDOW", "dedup-window", "how long a committed pomodoroUsageLogId is remembered, so that the producer's retries under new stream ids count once, in the stream ids' time (Redis's clock) (0: off)", false, durVal(&c.Committer.DedupWindow)},
		{"POMOCORE_DEDUP_MAX", "dedup-max", "most activities remembered for the dedup window in the 64 seen shards of a Redis Cluster (or of keys that are not ObjectIds), in slots of their own (~105 bytes each; below the cap memory is rate x window); past it each key forgets its oldest. A single server keeps ObjectIds as bits (~0.45 bytes each), without this cap", false, intVal(&c.Committer.DedupMax)},
		{"POMOCORE_SHUTDOWN_TIMEOUT", "shutdown-timeout", "time to finish the batch in hand after SIGTERM", false, durPtrVal(&c.Pipeline.ShutdownTimeout)},
		{"POMOCORE_STORE_TIMEOUT", "store-timeout", "timeout of one store call", false, durVal(&c.Mongo.Timeout)},
		{"POMOCORE_PARTITION", "partition", "number of this input stream when the input is split (0..63); the store records which stream owns it and refuses a second", false, uint8Val(&c.Pipeline.Partition)},
		{"POMOCORE_PARTITIONS", "partitions", "split the input stream into this many partition streams <stream>:pNN by userId (1..64; 1: off): every process routes when it holds the router lease and runs its pipeline on partition POMOCORE_PARTITION (see docs/cluster.md)", false, intVal(&c.Partitions)},
		{"POMOCORE_START_ID", "start-id", "where a consumer group that does not exist yet is created: 0 (the whole stream), $ (new entries only) or an entry id", false, strVal(&c.Reader.StartID)},
		{"POMOCORE_GROUP_RECREATE_AT", "group-recreate-at", "where to recreate the group if it vanishes while running and no position is known (the recorded commit position, the store's newest usage log or this process's memory come first): empty (stop and say what to do), 0 (all again) or $ (new entries only)", false, strVal(&c.Reader.RecreateAt)},
		{"POMOCORE_MAX_BATCH_BYTES", "max-batch-bytes", "most bytes of entries read in one batch (at least one entry is always read)", false, intVal(&c.Reader.MaxBatchBytes)},
		{"POMOCORE_DEAD_VALUE_MAX", "dead-value-max", "bytes of each field a dead letter copies; longer values keep a prefix plus their size and SHA-256", false, intVal(&c.Committer.DeadValueMax)},
		{"POMOCORE_SLOW_STORE", "slow-store", "store-call latency above which the batch size halves (it grows back below half of it)", false, durVal(&c.Pipeline.SlowStore)},
		{"POMOCORE_MONGO_PER_DOCUMENT", "mongo-per-document", "update documents named by id one statement each (on), with one $in per target (off), or on only when the server is FerretDB (auto)", false, strVal(&c.Mongo.PerDocument)},
		{"POMOCORE_SHADOW", "shadow", "shadow mode: own consumer group, leaderboards under the shadow key prefix, no documents, no session events, no trimming (see docs/cutover.md)", false, boolVal(&c.Shadow)},
		{"POMOCORE_ADMIN_TOKEN", "admin-token", "bearer token of the HTTP API's write endpoints (accepting a suggested pattern); unset: they are disabled (never logged)", true, strVal(&c.AdminToken)},
		{"POMOCORE_MODEL_FILE", "model-file", "the local model (JSON, from pomocore learn -o) loaded at start and replaced by each retraining; unset: trained from the store at start", false, strVal(&c.ModelFile)},
		{"POMOCORE_MODEL_THRESHOLD", "model-threshold", "confidence at which the local model answers before the LLM (0 < t <= 1)", false, floatVal(&c.Learn.Threshold)},
		{"POMOCORE_LEARN_INTERVAL", "learn-interval", "how often the model is retrained from the store (0: never; else at least 1m); promotion is checked as answers come and on this tick too", false, durVal(&c.Learn.Interval)},
		{"POMOCORE_LEARN_MAX_LABELS", "learn-max-labels", "most trusted labels read from the store per training (-1: none, patterns only)", false, intVal(&c.Learn.MaxLabels)},
		{"POMOCORE_LEARN_PROMOTE", "learn-promote", "turn domains and apps answered consistently by the model or the LLM into patterns (listed and revertible with pomocore patterns learned|revert)", false, boolVal(&c.Learn.Promote)},
		{"POMOCORE_LEARN_MIN_COUNT", "learn-min-count", "different activities of one domain or app answered alike before it is promoted (at least 2)", false, intVal(&c.Learn.MinCount)},
		{"POMOCORE_LEARN_MIN_CONFIDENCE", "learn-min-confidence", "least confidence of an answer that counts toward promotion (0 < c <= 1; LLM answers count as 1)", false, floatVal(&c.Learn.MinConfidence)},
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
	if c.Committer.DeadStream == "" {
		c.Committer.DeadStream = pomocore.DeadStream(c.Reader.Stream)
	}
}

// Validate checks the settings, naming each setting in its error. Rules of
// one package are that package's (its Validate; the setting bound to the
// field its error names is named); here are the rules of settings as
// such, and across packages.
func (c *Config) Validate() error {
	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	// named reports a package's config errors under the settings bound to
	// the fields they name, looked up in parts in turn (part: the config
	// of c, or of what it maps, holding the field).
	named := func(err error, what string, parts ...any) {
		for _, e := range unjoin(err) {
			if env, msg := c.setting(e, parts...); env != "" {
				bad(env, "%s", msg)
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
		if len(c.Redis.Addrs) == 0 {
			bad("REDIS_ADDR", "required when APP_ENV=prod (the embedded Redis is for development)")
		}
		if c.Mongo.URI == "" {
			bad("MONGO_URI", "required when APP_ENV=prod (the embedded SQLite store is for development)")
		}
	}
	if len(c.Redis.Addrs) > 0 { // else the embedded Redis
		named(c.Redis.Validate(), "Redis", &c.Redis)
	}
	// Without a URI the store is SQLite: the URI and database are unused,
	// the rest (POMOCORE_STORE_TIMEOUT) is checked all the same.
	mongoErrs := unjoin(c.Mongo.Validate())
	if c.Mongo.URI == "" {
		mongoErrs = slices.DeleteFunc(mongoErrs, func(e error) bool {
			var ce *pomocore.ConfigError
			return errors.As(e, &ce) && (ce.Field == "URI" || ce.Field == "Database")
		})
	}
	named(errors.Join(mongoErrs...), "MongoDB", &c.Mongo)
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		bad("POMOCORE_TIMEZONE", "%q is not an IANA time zone (e.g. Asia/Seoul)", c.TimeZone)
	}
	if c.Pipeline.Block >= 10*time.Second {
		bad("POMOCORE_BLOCK", "%v: want less than 10s (the Redis read timeout)", c.Pipeline.Block)
	}
	if c.Committer.DedupWindow > 0 && c.Committer.DedupWindow < 30*time.Minute {
		bad("POMOCORE_DEDUP_WINDOW", "%v: want 0 (off) or at least 30m (the main server's producer retries for 30 minutes)", c.Committer.DedupWindow)
	}
	if c.PatternReload < 0 {
		bad("POMOCORE_PATTERN_RELOAD", "%v: want >= 0", c.PatternReload)
	}
	switch c.BuiltinPatterns {
	case "fallback", "seed-only", "off":
	default:
		bad("POMOCORE_BUILTIN_PATTERNS", "%q: want fallback (the built-in set answers where category_pattern is silent), seed-only or off", c.BuiltinPatterns)
	}
	named(c.Chain.Validate(), "LLM fallback", &c.Chain)
	named(c.Learn.Validate(), "learning", &c.Learn)
	errs = append(errs, c.validateShadow()...)
	c.validatePartitions(bad)
	named(c.Pipeline.Validate(), "pipeline", &c.Pipeline)
	// The reader's AlsoTrim is derived from POMOCORE_SESSION_STREAM, which
	// the committer's check names; validating it again here would add a
	// line naming a field no operator sets.
	rc := c.ReaderConfig()
	rc.AlsoTrim = nil
	named(rc.Validate(), "stream reader", &c.Reader)
	named(c.CommitterConfig().Validate(), "committer", &c.Committer, &c.Reader)
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

// setting returns the setting (its environment variable) bound to the
// field a package's *pomocore.ConfigError names, and the error's message;
// "" when err is not one or no setting is bound to that field. The field
// ("Retention.Day") is looked up in each of parts in turn: pointers to
// the configs c holds, whose fields the settings are bound to.
func (c *Config) setting(err error, parts ...any) (env, msg string) {
	var ce *pomocore.ConfigError
	if !errors.As(err, &ce) {
		return "", ""
	}
	for _, part := range parts {
		v := reflect.ValueOf(part).Elem()
		for _, name := range strings.Split(ce.Field, ".") {
			if v.Kind() != reflect.Struct {
				v = reflect.Value{}
				break
			}
			if v = v.FieldByName(name); !v.IsValid() {
				break
			}
		}
		if !v.IsValid() || !v.CanAddr() || !v.Addr().CanInterface() {
			continue
		}
		field := v.Addr().Interface()
		for _, s := range c.Settings() {
			if b, ok := s.Value.(binder); ok && b.field() == field {
				return s.Env, ce.Msg
			}
		}
	}
	return "", ""
}

// unjoin returns the errors errors.Join put together (err alone
// otherwise, none for nil).
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// PipelineConfig is the pipeline configuration of the settings: Pipeline
// in the time zone loc (TimeZone's), holding no activity for an LLM when
// there is none.
func (c *Config) PipelineConfig(loc *time.Location) pipeline.Config {
	p := c.Pipeline
	p.Location = loc
	if c.OpenAIKey == "" {
		p.DecideWait = 0 // no LLM: nothing is ever on its way
	}
	return p
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

// binder is a setting's value that sets a field: field is a pointer to it.
type binder interface{ field() any }

func (v value[T]) field() any { return v.p }

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
func int64Val(p *int64) flag.Value {
	parse := func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }
	return value[int64]{p, parsed(parse, "an integer"), func(n int64) string { return strconv.FormatInt(n, 10) }}
}
func uint8Val(p *uint8) flag.Value {
	parse := func(s string) (uint8, error) {
		n, err := strconv.ParseUint(s, 10, 8)
		return uint8(n), err
	}
	return value[uint8]{p, parsed(parse, "an integer 0..255"), func(n uint8) string { return strconv.Itoa(int(n)) }}
}
func floatVal(p *float64) flag.Value {
	parse := func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
	return value[float64]{p, parsed(parse, "a number"), func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }}
}
func boolVal(p *bool) flag.Value {
	return boolValue{value[bool]{p, parsed(strconv.ParseBool, "true or false"), strconv.FormatBool}}
}

// notBoolVal is a bool setting bound to a field that says the opposite.
func notBoolVal(p *bool) flag.Value {
	parse := func(s string) (bool, error) {
		b, err := strconv.ParseBool(s)
		return !b, err
	}
	return boolValue{value[bool]{p, parsed(parse, "true or false"), func(b bool) string { return strconv.FormatBool(!b) }}}
}
func durVal(p *time.Duration) flag.Value {
	return value[time.Duration]{p, parsed(time.ParseDuration, "a duration (e.g. 500ms, 30s, 2m)"), time.Duration.String}
}

// durPtrVal is a duration setting bound to a field whose nil is its
// package's default (and whose zero means zero).
func durPtrVal(p **time.Duration) flag.Value {
	parse := func(s string) (*time.Duration, error) {
		d, err := time.ParseDuration(s)
		return &d, err
	}
	format := func(d *time.Duration) string {
		if d == nil {
			return ""
		}
		return d.String()
	}
	return value[*time.Duration]{p, parsed(parse, "a duration (e.g. 500ms, 30s, 2m)"), format}
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

// CommitterConfig is the Redis committer configuration of the settings:
// Committer on Reader's stream and group, in the shadow's namespace and
// without session events in shadow mode.
func (c *Config) CommitterConfig() redis.CommitterConfig {
	cc := c.Committer
	cc.Stream, cc.Group = c.Reader.Stream, c.Reader.Group
	cc.Namespace, cc.NoSessionEvents = c.shadowNamespace(), c.Shadow
	cc.RecordScope = c.recordScope()
	return cc
}

// ReaderConfig is the Redis reader configuration of the settings: Reader,
// trimming the session stream too, in the shadow's namespace in shadow
// mode.
func (c *Config) ReaderConfig() redis.ReaderConfig {
	rc := c.Reader
	rc.AlsoTrim = []string{c.Committer.SessionStream}
	rc.Namespace = c.shadowNamespace()
	return rc
}

// MongoConfig is the MongoDB store configuration of the settings: Mongo
// in the time zone of TimeZone.
func (c *Config) MongoConfig() mongo.Config {
	m := c.Mongo
	m.Location, _ = time.LoadLocation(c.TimeZone) // Validate names a bad zone; nil is the adapter's default
	return m
}

// StoreTimeout is POMOCORE_STORE_TIMEOUT, the timeout of one store call:
// Mongo's Timeout, which the SQLite store and the learning keeper's store
// calls take too. Its rule (> 0) is mongo.Config's, checked whichever the
// store (see Validate).
func (c *Config) StoreTimeout() time.Duration {
	return c.Mongo.Timeout
}
