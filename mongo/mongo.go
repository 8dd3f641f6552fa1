// Package mongo is the MongoDB adapter (official driver v2): the
// category_pattern, categorized_data and pomodoro_usage_log collections of
// the CONTRACT. It implements pipeline.Store and pipeline.Patterns with few,
// large commands: one lookup of a batch's distinct keys, inserts of only
// what is new, and updates grouped by target value.
//
// The documents are the main server's (Spring Data): it writes and reads
// categorized_data.IsLLMBased and pomodoro_usage_log.CategorizedDataId
// (capitalised), and sessionDate as midnight of the session day in its
// zone (Asia/Seoul). The store writes those names and that date; it reads
// them, and the older data server's isLLMBased, categorizedDataId and UTC
// midnight too. (app, url, title) is not a unique key of categorized_data:
// the main server inserts one document per activity.
package mongo

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/bounded"
	"github.com/pomocore/pomocore/internal/redact"
	"github.com/pomocore/pomocore/pipeline"
)

// Collection names of the CONTRACT.
const (
	CategoryPatternCollection = "category_pattern"
	CategorizedDataCollection = "categorized_data"
	UsageLogCollection        = "pomodoro_usage_log"
)

// Config is how to reach MongoDB and how large commands may be.
type Config struct {
	// URI is MONGO_URI; it may hold credentials and is never logged or put in
	// an error.
	URI string
	// Database is MONGO_DATABASE.
	Database string
	// Timeout bounds every operation (default 10s).
	Timeout time.Duration
	// MaxStatements bounds the update statements of one command (default
	// 90; FerretDB hangs at >= 100 update statements in one command).
	MaxStatements int
	// InsertBatch bounds the documents of one insertMany (default 10000).
	InsertBatch int
	// MaxIDs bounds the ids of one $in and the keys of one $or (default
	// 2000).
	MaxIDs int
	// KeyCache bounds the remembered (app, url, title) -> categorized_data
	// id pairs (default 100,000).
	KeyCache int
	// Location is the service time zone (POMOCORE_TIMEZONE): a usage log's
	// sessionDate is stored as midnight of its day there, as the main
	// server stores a LocalDate (default Asia/Seoul, the main server's).
	Location *time.Location
	// Logger receives warnings, e.g. an index that could not be created
	// (default: discarded).
	Logger *slog.Logger
	// PerDocument chooses how documents named by id are updated: "off", one
	// updateMany per target value with `_id: {$in: [...]}` (the fewest
	// commands, for MongoDB, which serves the $in from the _id index); "on",
	// one update statement per document with `_id: <id>` (a command that
	// matched fewer documents is sent again as upserts, so that no lookup
	// of missing ids is needed), MaxStatements per command (fewer on a
	// server without a usable _id index: see statementsPerCommand), for
	// servers that scan the collection for an $in (FerretDB 1.x); "auto"
	// (the default), "on" when the server's buildInfo names FerretDB, else
	// "off".
	PerDocument string

	// monitor, set by tests only, observes the commands sent.
	monitor *event.CommandMonitor
}

// defaultZone is the main server's JVM zone.
const defaultZone = "Asia/Seoul"

// DefaultConfig returns the store's defaults (no URI; the database name
// "pomocore").
func DefaultConfig() Config {
	return Config{
		Database:      "pomocore",
		Timeout:       10 * time.Second,
		MaxStatements: 90,
		InsertBatch:   10000,
		MaxIDs:        2000,
		KeyCache:      100000,
		Location:      seoulZone(),
		PerDocument:   "auto",
	}
}

// seoulZone is the main server's JVM zone; Seoul has kept UTC+9 without
// daylight saving since 1988, which stands in without a zone database.
func seoulZone() *time.Location {
	loc, err := time.LoadLocation(defaultZone)
	if err != nil {
		loc = time.FixedZone("KST", 9*60*60)
	}
	return loc
}

// withDefaults fills the zero fields of c from DefaultConfig (but the
// names), and the logger (discarding).
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.Timeout = cmp.Or(c.Timeout, d.Timeout)
	c.MaxStatements = cmp.Or(c.MaxStatements, d.MaxStatements)
	c.InsertBatch = cmp.Or(c.InsertBatch, d.InsertBatch)
	c.MaxIDs = cmp.Or(c.MaxIDs, d.MaxIDs)
	c.KeyCache = cmp.Or(c.KeyCache, d.KeyCache)
	c.Location = cmp.Or(c.Location, d.Location)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.PerDocument = cmp.Or(c.PerDocument, d.PerDocument)
	return c
}

// Validate reports settings that cannot work, as they are (Open and
// OpenInspector fill the zero ones from DefaultConfig first), each as a
// *pomocore.ConfigError naming the Config field (joined). No error quotes
// the URI, which may hold credentials.
func (c Config) Validate() error {
	var errs pomocore.ConfigErrors
	bad := errs.Add
	if c.URI == "" {
		bad("URI", "empty")
	} else if err := options.Client().ApplyURI(c.URI).Validate(); err != nil {
		// The driver's message may quote the URI: say only that it is bad.
		bad("URI", "not a valid mongodb:// or mongodb+srv:// URI")
	}
	if c.Database == "" {
		bad("Database", "empty")
	}
	if c.Timeout <= 0 {
		bad("Timeout", "%v: want > 0", c.Timeout)
	}
	if c.MaxStatements < 1 || c.MaxStatements > 99 {
		bad("MaxStatements", "%d: want 1..99", c.MaxStatements)
	}
	if c.MaxIDs < 1 {
		bad("MaxIDs", "%d: want >= 1", c.MaxIDs)
	}
	if c.KeyCache < 1 {
		bad("KeyCache", "%d: want >= 1", c.KeyCache)
	}
	if c.InsertBatch < 1 {
		bad("InsertBatch", "%d: want >= 1", c.InsertBatch)
	}
	if !slices.Contains([]string{"auto", "on", "off"}, c.PerDocument) {
		bad("PerDocument", "%q: want auto, on or off", c.PerDocument)
	}
	return errors.Join(errs...)
}

// Store is the MongoDB store. Safe for concurrent use.
type Store struct {
	client                 *mongo.Client
	patterns, cd, logs     *mongo.Collection
	cfg                    Config
	commands, updates, ins atomic.Int64
	// keyIDs remembers the categorized_data id of (app, url, title) keys
	// (an id never changes); written remembers the category this store
	// last gave a categorized_data document, so that writing it again is
	// skipped.
	keyIDs  *bounded.Map[key, bson.ObjectID]
	written *bounded.Map[bson.ObjectID, target]
	// resolving (capacity 1) is held while keys not in keyIDs are looked
	// up and created: with no unique index on the key, two Saves of this
	// store creating one key at once would create it twice. Instances
	// racing may still; a key's document is then its smallest id.
	resolving chan struct{}
	// perDoc: documents named by id are updated one statement each
	// (Config.PerDocument).
	perDoc bool
	// idScans: the server is FerretDB and scans the usage log table for
	// {_id: X} (its own _id index is on another expression than the one
	// it filters with; see idIndexed). Duplicate usage logs are then
	// checked with one _id $in find (one scan) rather than one find each.
	idScans bool
	// perStatement is, by collection (categorized_data, the usage logs),
	// the last measured time of one update statement (nanoseconds) on a
	// server that scans for an _id (idScans): it sizes the commands
	// (statementsPerCommand).
	perStatement map[string]*atomic.Int64
}

// Open connects, pings, and creates the indexes the store's reads use.
// An index that cannot be created (one of the same name with other
// options exists, say) is logged and skipped: start-up never fails on
// existing indexes or data. The index on categorized_data (app, url, title)
// is not unique (production holds many documents per key, and the main
// server inserts more); a unique one that exists is not dropped.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mongo: %w", err)
	}
	// Timeout is the client's operation timeout (CSOT): every command but
	// the cursor-returning find and aggregate carries the time left as
	// maxTimeMS, so that the server abandons what the client abandoned;
	// Save's finds go through RunCommandCursor to carry it too (find).
	opts := options.Client().ApplyURI(cfg.URI).SetTimeout(cfg.Timeout).
		SetConnectTimeout(cfg.Timeout).SetServerSelectionTimeout(cfg.Timeout).SetAppName("pomocore")
	if cfg.monitor != nil {
		opts.SetMonitor(cfg.monitor)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("mongo: connect: %w", redactErr(err, cfg.URI))
	}
	s := &Store{client: client, cfg: cfg, keyIDs: bounded.New[key, bson.ObjectID](cfg.KeyCache),
		written: bounded.New[bson.ObjectID, target](cfg.KeyCache), resolving: make(chan struct{}, 1),
		perStatement: map[string]*atomic.Int64{CategorizedDataCollection: new(atomic.Int64), UsageLogCollection: new(atomic.Int64)}}
	db := client.Database(cfg.Database)
	s.patterns, s.cd, s.logs = db.Collection(CategoryPatternCollection), db.Collection(CategorizedDataCollection), db.Collection(UsageLogCollection)
	if err := s.Ping(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	s.perDoc = cfg.PerDocument == "on"
	ferret := false
	var info bson.Raw
	if err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		cfg.Logger.Warn("mongo: buildInfo failed; taking the server for MongoDB", "err", redactErr(err, cfg.URI).Error())
	} else if v, err := info.LookupErr("ferretdbVersion"); err == nil {
		ferret = true
		if cfg.PerDocument == "auto" {
			s.perDoc = true
			cfg.Logger.Info("mongo: the server is FerretDB, which scans the collection for an _id $in: updating documents named by id one statement each",
				"ferretdb", v.String())
		}
	}
	// One command per index: FerretDB v1.24 dropped the connection on one
	// createIndexes of two indexes that both already existed.
	for _, ix := range indexes() {
		coll := db.Collection(ix.coll)
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: ix.keys, Options: options.Index().SetName(ix.name)}); err != nil {
			if ctx.Err() != nil {
				_ = client.Disconnect(context.Background())
				return nil, fmt.Errorf("mongo: index %s on %s: %w", ix.name, ix.coll, ctx.Err())
			}
			cfg.Logger.Warn("mongo: index not created; continuing without it", "collection", ix.coll,
				"index", ix.name, "err", redactErr(err, cfg.URI).Error())
		}
	}
	if ferret {
		indexed, plan := s.idIndexed(ctx)
		s.idScans = !indexed
		cfg.Logger.Info("mongo: FerretDB's plan for a usage log by _id", "indexed", indexed, "plan", plan)
		if !indexed {
			s.measureScan(ctx)
		}
	}
	return s, nil
}

// measureScan times, in the usage logs and in categorized_data, one find
// by an _id that does not exist (a scan of the collection on a server
// without a usable _id index), takes three such scans as the cost of one
// update statement there (FerretDB reads the document, then updates it by
// _id: two scans, and the write), and says loudly why the store will be
// slow.
func (s *Store) measureScan(ctx context.Context) {
	for _, coll := range []*mongo.Collection{s.logs, s.cd} {
		n, err := coll.EstimatedDocumentCount(ctx)
		if err != nil {
			n = -1
		}
		start := time.Now()
		var none []idOnly
		if err := s.find(ctx, coll, bson.D{{Key: "_id", Value: bson.NewObjectID()}}, bson.D{{Key: "_id", Value: 1}}, nil, &none); err != nil {
			s.cfg.Logger.Warn("mongo: timing a scan failed", "collection", coll.Name(), "err", redactErr(err, s.cfg.URI).Error())
			continue
		}
		scan := time.Since(start)
		s.perStatement[coll.Name()].Store(int64(3 * scan))
		s.cfg.Logger.Warn(fmt.Sprintf("mongo: no usable _id index: each update scans %d documents", n),
			"collection", coll.Name(), "documents", n, "scan", scan.Round(time.Microsecond).String(),
			"statements_per_command", s.statementsPerCommand(coll.Name()),
			"why", "FerretDB filters {_id: X} with _ferretdb_sjson->'$._id' and indexes _id on another expression",
			"fix", "CREATE INDEX <table>_id_fixed ON <table> (_ferretdb_sjson->'$._id') in the database's SQLite file, for each collection")
	}
}

// statementsPerCommand is how many update statements the next command
// to collection carries: MaxStatements, or, on a server that scans the
// collection for each (idScans), as many as complete within a quarter of
// the timeout at the cost per statement last measured there (at least
// one), so that a command completes rather than times out, and the store
// progresses however slowly.
func (s *Store) statementsPerCommand(collection string) int {
	p, ok := s.perStatement[collection]
	if !s.idScans || !ok || p.Load() <= 0 {
		return s.cfg.MaxStatements
	}
	return max(1, min(s.cfg.MaxStatements, int(s.cfg.Timeout/4/time.Duration(p.Load()))))
}

// tookPerStatement records that a command of n update statements to
// collection took took (on a server that scans for an _id).
func (s *Store) tookPerStatement(collection string, took time.Duration, n int) {
	if p, ok := s.perStatement[collection]; ok && s.idScans && n > 0 {
		p.Store(int64(took) / int64(n))
	}
}

// idIndexed asks FerretDB (explain) whether it serves a find of one usage
// log by _id from an index, and returns its plan. FerretDB 1.24 on SQLite
// filters {_id: X} with the expression _ferretdb_sjson->'$._id', and
// creates its _id index on _ferretdb_sjson->"_id": unless someone created
// an index on the first (as the deployment issue 19 measured did), the
// plan is a SCAN of the table.
func (s *Store) idIndexed(ctx context.Context) (bool, string) {
	var res struct {
		QueryPlanner struct {
			Plan []string `bson:"Plan"`
		} `bson:"queryPlanner"`
	}
	err := s.logs.Database().RunCommand(ctx, bson.D{
		{Key: "explain", Value: bson.D{{Key: "find", Value: s.logs.Name()}, {Key: "filter", Value: bson.D{{Key: "_id", Value: bson.NewObjectID()}}}}},
		{Key: "verbosity", Value: "queryPlanner"},
	}).Decode(&res)
	if err != nil {
		return false, "explain failed: " + redactErr(err, s.cfg.URI).Error()
	}
	plan := strings.Join(res.QueryPlanner.Plan, "; ")
	return strings.Contains(plan, " USING INDEX ") || strings.Contains(plan, " USING COVERING INDEX "), plan
}

// index is an index Open creates.
type index struct {
	coll, name string
	keys       bson.D
}

// indexes returns the indexes Open creates, none unique: the lookup of
// categorized_data by key (Save), the main server's own on
// pomodoro_usage_log (its session queries: the same name and keys, so
// creating it where the main server did is a no-op), and the pipeline's
// by date and by timestamp (UsageLogsBetween).
func indexes() []index {
	return []index{
		{CategorizedDataCollection, "app_url_title", bson.D{{Key: "app", Value: 1}, {Key: "url", Value: 1}, {Key: "title", Value: 1}}},
		{UsageLogCollection, "userId_sessionDate_session_idx", bson.D{{Key: "userId", Value: 1}, {Key: "sessionDate", Value: 1}, {Key: "session", Value: 1}}},
		{UsageLogCollection, "sessionDate", bson.D{{Key: "sessionDate", Value: 1}}},
		{UsageLogCollection, "timestamp", bson.D{{Key: "timestamp", Value: 1}}},
	}
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, nil); err != nil {
		return fmt.Errorf("mongo: ping: %w", redactErr(err, s.cfg.URI))
	}
	return nil
}

// Close disconnects.
func (s *Store) Close(ctx context.Context) error { return s.client.Disconnect(ctx) }

// Register registers on reg the counters of what the store sent to
// MongoDB, read on scrape: pomocore_mongo_commands_total (every command:
// finds, inserts, updates), pomocore_mongo_update_statements_total (one per
// update statement) and pomocore_mongo_inserted_documents_total (documents
// sent in inserts). Divided by pomocore_events_committed_total they are the
// store's cost per event. Register it on one registry once; it fails (with
// the registry's error) if they are there already.
func (s *Store) Register(reg prometheus.Registerer) error {
	for _, c := range []struct {
		name, help string
		n          *atomic.Int64
	}{
		{"pomocore_mongo_commands_total", "Commands sent to MongoDB (finds, inserts, updates).", &s.commands},
		{"pomocore_mongo_update_statements_total", "Update statements sent to MongoDB.", &s.updates},
		{"pomocore_mongo_inserted_documents_total", "Documents sent to MongoDB in inserts.", &s.ins},
	} {
		n := c.n
		f := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help}, func() float64 { return float64(n.Load()) })
		if err := reg.Register(f); err != nil {
			return fmt.Errorf("mongo: register %s: %w", c.name, err)
		}
	}
	return nil
}

// redacted is an error whose message has a URI's secrets taken out; it
// unwraps to the original.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// redactErr keeps the URI and its password, however short, out of err's
// message.
func redactErr(err error, uri string) error {
	if err == nil || uri == "" {
		return err
	}
	msg := err.Error()
	red := redact.String(msg, Secrets(uri)...)
	if red == msg {
		return err
	}
	return &redacted{msg: red, err: err}
}

// Field names the main server (Spring Data) and the older data server
// spell differently (the documents' struct tags spell them too).
const (
	fieldLLMBased      = "IsLLMBased"        // categorized_data, Spring
	fieldOldLLMBased   = "isLLMBased"        // categorized_data, the older data server
	fieldCategorizedID = "CategorizedDataId" // pomodoro_usage_log, Spring
	fieldSource        = "pomocoreSource"    // categorized_data, this store's own (see learned.go)
)

// cdDoc is a categorized_data document. Written with Spring's names;
// read with either (Spring's wins), and without the fields Spring omits
// when null. Other fields (_class) are ignored.
type cdDoc struct {
	ID         bson.ObjectID `bson:"_id"`
	App        string        `bson:"app"`
	URL        string        `bson:"url"`
	Title      string        `bson:"title"`
	CategoryID bson.ObjectID `bson:"categoryId"`
	LLMBased   *bool         `bson:"IsLLMBased,omitempty"`
	// OldLLMBased is only read.
	OldLLMBased *bool `bson:"isLLMBased,omitempty"`
	// Source is who decided the category (a pomocore.Source), a field of
	// this store's own that Spring ignores; absent on documents of other
	// writers.
	Source string `bson:"pomocoreSource,omitempty"`
}

// llm returns whether the document's category came from the LLM.
func (d *cdDoc) llm() bool {
	if d.LLMBased != nil {
		return *d.LLMBased
	}
	return d.OldLLMBased != nil && *d.OldLLMBased
}

func (d *cdDoc) domain() pomocore.CategorizedData {
	return pomocore.CategorizedData{ID: pomocore.ObjectID(d.ID), App: d.App, URL: d.URL, Title: d.Title,
		CategoryID: pomocore.ObjectID(d.CategoryID), LLMBased: d.llm()}
}

// logDoc is a pomodoro_usage_log document as written: Spring's names, and
// sessionDate a date at midnight of the session day in the service zone.
type logDoc struct {
	ID                bson.ObjectID `bson:"_id"`
	UserID            string        `bson:"userId"`
	CategorizedDataID bson.ObjectID `bson:"CategorizedDataId"`
	CategoryID        bson.ObjectID `bson:"categoryId"`
	Session           int32         `bson:"session"`
	SessionMinutes    int32         `bson:"sessionMinutes"`
	SessionDate       time.Time     `bson:"sessionDate"`
	Timestamp         float64       `bson:"timestamp"`
	Duration          float64       `bson:"duration"`
}

// logRead is a pomodoro_usage_log document as read: either spelling of
// the categorized_data id (Spring's wins), any missing field zero, and
// sessionDate raw (see sessionDay). Other fields (_class) are ignored.
type logRead struct {
	ID                   bson.ObjectID `bson:"_id"`
	UserID               string        `bson:"userId"`
	CategorizedDataID    bson.ObjectID `bson:"CategorizedDataId"`
	OldCategorizedDataID bson.ObjectID `bson:"categorizedDataId"`
	CategoryID           bson.ObjectID `bson:"categoryId"`
	Session              int32         `bson:"session"`
	SessionMinutes       int32         `bson:"sessionMinutes"`
	SessionDate          bson.RawValue `bson:"sessionDate"`
	Timestamp            float64       `bson:"timestamp"`
	Duration             float64       `bson:"duration"`
}

func (l *logRead) domain(loc *time.Location) pomocore.UsageLog {
	cd := l.CategorizedDataID
	if cd.IsZero() {
		cd = l.OldCategorizedDataID
	}
	return pomocore.UsageLog{ID: pomocore.ObjectID(l.ID), UserID: l.UserID, CategorizedDataID: pomocore.ObjectID(cd),
		CategoryID: pomocore.ObjectID(l.CategoryID), Session: int(l.Session), SessionMinutes: int(l.SessionMinutes),
		SessionDate: sessionDay(l.SessionDate, loc), Timestamp: l.Timestamp, Duration: l.Duration}
}

// sessionDate is the stored form of day ("YYYY-MM-DD"): its midnight in
// loc, as Spring stores a LocalDate in the JVM zone. A malformed day gives
// the zero time, as before.
func sessionDate(day string, loc *time.Location) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, day, loc)
	if err != nil {
		return time.Time{}
	}
	return t
}

// sessionDay is the day ("YYYY-MM-DD") of a stored sessionDate: a date at
// midnight in loc (the main server, this store) or at midnight UTC (the
// older data server); a "YYYY-MM-DD" string is taken as it is. Anything
// else gives "".
func sessionDay(v bson.RawValue, loc *time.Location) string {
	switch v.Type {
	case bson.TypeDateTime:
		t := v.Time().UTC()
		if h, m, s := t.Clock(); h == 0 && m == 0 && s == 0 && t.Nanosecond() == 0 {
			return t.Format(time.DateOnly)
		}
		return t.In(loc).Format(time.DateOnly)
	case bson.TypeString:
		if s := v.StringValue(); validDay(s) {
			return s
		}
	}
	return ""
}

func validDay(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

type patternDoc struct {
	ID             bson.ObjectID        `bson:"_id"`
	Category       string               `bson:"category"`
	Priority       int                  `bson:"priority"`
	AppPatterns    []string             `bson:"appPatterns"`
	DomainPatterns []string             `bson:"domainPatterns"`
	TitleRules     []pomocore.TitleRule `bson:"titleRules,omitempty"`
}

// domain returns the document as the root package's CategoryPattern, its
// pattern lists as stored (nil when the field is missing).
func (d patternDoc) domain() pomocore.CategoryPattern {
	return pomocore.CategoryPattern{ID: pomocore.ObjectID(d.ID), Category: d.Category, Priority: d.Priority,
		AppPatterns: d.AppPatterns, DomainPatterns: d.DomainPatterns, TitleRules: d.TitleRules}
}

type key struct{ app, url, title string }

// target is the value an update sets; updates are grouped by it.
type target struct {
	category bson.ObjectID
	llm      bool
	source   string
	cd       bson.ObjectID // zero: leave CategorizedDataId alone
}

// Save implements pipeline.Store with few commands per batch: one bulk
// update of categorized_data (one updateMany per target value), one
// insertMany of the new usage logs or one bulk update of the named ones, and
// lookups and inserts only for (app, url, title) keys this store has not
// seen before.
//
// A command that timed out returns an error that wraps
// context.DeadlineExceeded (the pipeline then counts it as a timeout, not
// as a refusal).
func (s *Store) Save(ctx context.Context, records []pipeline.Record) (err error) {
	if len(records) == 0 {
		return nil
	}
	defer wrapTimeout(&err)
	defer wrapCannotWrite(&err)
	keyIDs, err := s.saveCategorizedOf(ctx, records)
	if err != nil {
		return err
	}
	return s.saveLogs(ctx, records, keyIDs)
}

// KeepAnswers implements pipeline.AnswerKeeper with Save's categorized_data
// writes.
func (s *Store) KeepAnswers(ctx context.Context, answers []pomocore.CategorizedData) (err error) {
	if len(answers) == 0 {
		return nil
	}
	defer wrapTimeout(&err)
	defer wrapCannotWrite(&err)
	_, err = s.saveCategorizedOf(ctx, pipeline.AnswerRecords(answers))
	return err
}

// codeOutOfDiskSpace is MongoDB's OutOfDiskSpace error code.
const codeOutOfDiskSpace = 14031

// cannotWriteMessages are what a server that cannot write at all says
// where it has no code for it: FerretDB on SQLite passes SQLite's full
// disk and read-only database on in an InternalError. (A server's words,
// not this program's errors: there is nothing else to decide by.)
var cannotWriteMessages = []string{"database or disk is full", "attempt to write a readonly database", "No space left on device"}

// wrapCannotWrite makes an error of a server that cannot write at all
// (out of disk space, read-only) wrap pipeline.ErrStoreCannotWrite, so the
// pipeline never takes it for an entry's fault.
func wrapCannotWrite(err *error) {
	var se mongo.ServerError
	if *err == nil || errors.Is(*err, pipeline.ErrStoreCannotWrite) || !errors.As(*err, &se) {
		return
	}
	full := se.HasErrorCode(codeOutOfDiskSpace)
	for _, m := range cannotWriteMessages {
		full = full || se.HasErrorMessage(m)
	}
	if full {
		*err = fmt.Errorf("%w (%w)", *err, pipeline.ErrStoreCannotWrite)
	}
}

// wrapTimeout makes an error of a command that timed out wrap
// context.DeadlineExceeded (the pipeline then counts it as a timeout, not
// as a refusal).
func wrapTimeout(err *error) {
	if *err != nil && mongo.IsTimeout(*err) && !errors.Is(*err, context.DeadlineExceeded) {
		*err = fmt.Errorf("%w (%w)", *err, context.DeadlineExceeded)
	}
}

// saveCategorizedOf writes the categorized_data documents of records and
// returns the ids of the (app, url, title) keys' documents.
func (s *Store) saveCategorizedOf(ctx context.Context, records []pipeline.Record) (map[key]bson.ObjectID, error) {
	// 1. categorized_data: the last record naming a document decides it.
	decide := map[bson.ObjectID]int{} // document -> record index
	lastByKey := map[key]int{}
	var keyOrder []key
	for i := range records {
		a := &records[i].Activity
		if !a.CategorizedDataID.IsZero() {
			decide[bson.ObjectID(a.CategorizedDataID)] = i
			continue
		}
		k := key{a.App, a.URL, a.Title}
		if _, ok := lastByKey[k]; !ok {
			keyOrder = append(keyOrder, k)
		}
		lastByKey[k] = i
	}
	keyIDs, err := s.resolveKeys(ctx, records, keyOrder, lastByKey, decide)
	if err != nil {
		return nil, err
	}
	if err := s.saveCategorized(ctx, records, decide); err != nil {
		return nil, err
	}
	return keyIDs, nil
}

func tgtOf(r *pipeline.Record) target {
	return target{category: bson.ObjectID(r.CategoryID), llm: r.Classification.LLMBased(), source: string(r.Classification.Source)}
}

// cdDocOf is the categorized_data document id gets from record r.
func cdDocOf(id bson.ObjectID, r *pipeline.Record) cdDoc {
	t := tgtOf(r)
	return cdDoc{ID: id, App: r.Activity.App, URL: r.Activity.URL, Title: r.Activity.Title, CategoryID: t.category, LLMBased: &t.llm, Source: t.source}
}

// resolveKeys finds or creates the categorized_data document of each key
// and adds to decide the ones whose category must be set. Keys seen before
// cost nothing here: their id is remembered. A key with several documents
// (the main server inserts one per activity) uses the one of smallest id.
func (s *Store) resolveKeys(ctx context.Context, records []pipeline.Record, keys []key, last map[key]int, decide map[bson.ObjectID]int) (map[key]bson.ObjectID, error) {
	ids := make(map[key]bson.ObjectID, len(keys))
	fromCache := func(keys []key) (unknown []key) {
		for _, k := range keys {
			if id, ok := s.keyIDs.Get(k); ok {
				ids[k] = id
				decide[id] = last[k] // skipped when this store already wrote it
				continue
			}
			unknown = append(unknown, k)
		}
		return unknown
	}
	unknown := fromCache(keys)
	if len(unknown) == 0 {
		return ids, nil
	}
	select {
	case s.resolving <- struct{}{}:
		defer func() { <-s.resolving }()
	case <-ctx.Done():
		return nil, fmt.Errorf("mongo: categorized_data keys: %w", ctx.Err())
	}
	if unknown = fromCache(unknown); len(unknown) == 0 {
		return ids, nil // resolved by another Save meanwhile
	}
	existing, err := s.findKeys(ctx, unknown)
	if err != nil {
		return nil, err
	}
	var newDocs []any
	var newKeys []key
	now := time.Now()
	for _, k := range unknown {
		if _, ok := existing[k]; ok {
			continue
		}
		r := &records[last[k]]
		id := bson.ObjectID(pomocore.NewObjectID(now))
		newDocs = append(newDocs, cdDocOf(id, r))
		newKeys = append(newKeys, k)
		ids[k] = id
	}
	dups, err := s.insert(ctx, s.cd, newDocs)
	if err != nil {
		return nil, fmt.Errorf("mongo: insert categorized_data: %w", err)
	}
	raced := map[int]bool{}
	if len(dups) > 0 {
		// A unique index on the key, which this store never creates but
		// does not drop, refused some: another writer created them first.
		// Use its documents.
		var again []key
		for _, i := range dups {
			raced[i] = true
			again = append(again, newKeys[i])
			delete(ids, newKeys[i])
		}
		found, err := s.findKeys(ctx, again)
		if err != nil {
			return nil, err
		}
		for k, d := range found {
			existing[k] = d
		}
	}
	for i, k := range newKeys {
		if !raced[i] {
			s.keyIDs.Put(k, ids[k])
			s.written.Put(ids[k], tgtOf(&records[last[k]]))
		}
	}
	for k, d := range existing {
		ids[k] = d.ID
		s.keyIDs.Put(k, d.ID)
		if d.LLMBased != nil {
			// Without Spring's IsLLMBased (an older data server's document)
			// it is written once, even when the values are right.
			s.written.Put(d.ID, target{category: d.CategoryID, llm: *d.LLMBased, source: d.Source})
		}
		decide[d.ID] = last[k] // skipped below when already right
	}
	return ids, nil
}

// saveCategorized sets each decided document's category, creating the
// documents that do not exist.
func (s *Store) saveCategorized(ctx context.Context, records []pipeline.Record, decide map[bson.ObjectID]int) (err error) {
	if len(decide) == 0 {
		return nil
	}
	groups := map[target][]bson.ObjectID{}
	create := func(id bson.ObjectID) any { return cdDocOf(id, &records[decide[id]]) }
	for id, i := range decide {
		t := tgtOf(&records[i])
		if w, ok := s.written.Get(id); ok && (w == t || (w.llm && t.source == string(pomocore.SourceDefault))) {
			continue // already right, or an LLM answer the default must not replace (pipeline.Store)
		}
		groups[t] = append(groups[t], id)
	}
	if len(groups) == 0 {
		return nil
	}
	updates := make([]update, 0, len(groups))
	for t, ids := range groups {
		updates = append(updates, update{ids: ids, set: bson.D{{Key: "categoryId", Value: t.category}, {Key: fieldLLMBased, Value: t.llm}, {Key: fieldSource, Value: t.source}},
			insert: create})
	}
	missing, err := s.updateMany(ctx, s.cd, updates)
	if err != nil {
		return fmt.Errorf("mongo: update categorized_data: %w", err)
	}
	defer func() {
		if err == nil {
			for t, ids := range groups {
				for _, id := range ids {
					s.written.Put(id, t)
				}
			}
		}
	}()
	if len(missing) == 0 {
		return nil
	}
	docs := make([]any, 0, len(missing))
	for _, id := range missing {
		r := &records[decide[id]]
		docs = append(docs, cdDocOf(id, r))
	}
	// Created even when other documents hold the (app, url, title) key. A
	// duplicate key here means a concurrent insert of the id won, or a
	// unique index on the key (never created here) refused it: nothing
	// more to create.
	if _, err = s.insert(ctx, s.cd, docs); err != nil {
		return fmt.Errorf("mongo: insert categorized_data: %w", err)
	}
	return nil
}

// findKeys looks up the documents of keys, MaxIDs keys per $or; of several
// documents of one key it returns the one of smallest id (all are read, once
// per key while keyIDs remembers it). An empty url also matches a document
// without one (Spring omits a null url).
func (s *Store) findKeys(ctx context.Context, keys []key) (map[key]cdDoc, error) {
	out := make(map[key]cdDoc, len(keys))
	for chunk := range slices.Chunk(keys, s.cfg.MaxIDs) {
		or := make(bson.A, 0, len(chunk))
		for _, k := range chunk {
			var url any = k.url
			if k.url == "" {
				url = bson.D{{Key: "$in", Value: bson.A{"", nil}}}
			}
			or = append(or, bson.D{{Key: "app", Value: k.app}, {Key: "url", Value: url}, {Key: "title", Value: k.title}})
		}
		s.commands.Add(1)
		var docs []cdDoc
		if err := s.find(ctx, s.cd, bson.D{{Key: "$or", Value: or}},
			bson.D{{Key: "_id", Value: 1}, {Key: "app", Value: 1}, {Key: "url", Value: 1}, {Key: "title", Value: 1},
				{Key: "categoryId", Value: 1}, {Key: fieldLLMBased, Value: 1}, {Key: fieldOldLLMBased, Value: 1}, {Key: fieldSource, Value: 1}},
			bson.D{{Key: "_id", Value: 1}}, &docs); err != nil {
			return nil, fmt.Errorf("mongo: find categorized_data: %w", err)
		}
		for _, d := range docs {
			k := key{d.App, d.URL, d.Title}
			if _, ok := out[k]; !ok {
				out[k] = d
			}
		}
	}
	return out, nil
}

func (s *Store) saveLogs(ctx context.Context, records []pipeline.Record, keyIDs map[key]bson.ObjectID) error {
	last := map[bson.ObjectID]int{}
	var order []bson.ObjectID
	for i := range records {
		id := bson.ObjectID(records[i].UsageLogID)
		if _, ok := last[id]; !ok {
			order = append(order, id)
		}
		last[id] = i
	}
	full := func(i int) logDoc {
		r := &records[i]
		a := &r.Activity
		cd := bson.ObjectID(a.CategorizedDataID)
		if a.CategorizedDataID.IsZero() {
			cd = keyIDs[key{a.App, a.URL, a.Title}]
		}
		return logDoc{ID: bson.ObjectID(r.UsageLogID), UserID: a.UserID, CategorizedDataID: cd, CategoryID: bson.ObjectID(r.CategoryID),
			Session: int32(a.Session), SessionMinutes: int32(a.SessionMinutes), SessionDate: sessionDate(a.SessionDate, s.cfg.Location),
			Timestamp: a.Timestamp, Duration: a.Duration}
	}
	// Logs the pipeline creates are inserted; a duplicate key means an
	// earlier try stored it, and it is brought up to date like a given id.
	var inserts []any
	var insertIdx []int
	var updates []int
	for _, id := range order {
		i := last[id]
		if records[i].Activity.UsageLogID.IsZero() {
			inserts = append(inserts, full(i))
			insertIdx = append(insertIdx, i)
		} else {
			updates = append(updates, i)
		}
	}
	dups, err := s.insert(ctx, s.logs, inserts)
	if err != nil {
		return fmt.Errorf("mongo: insert usage logs: %w", err)
	}
	// A duplicate is usually a retry of a batch that was stored whole
	// (the call timed out after the server ran it, or the process died
	// before the commit): one find of the duplicates tells which differ
	// (a category that changed between tries), and only those are
	// updated. Updating every duplicate by id would cost a collection
	// scan each on FerretDB, long enough for the retry to time out too
	// and to pile abandoned updates on the server (issue 19, item 12).
	stale, err := s.stale(ctx, records, dups, insertIdx, full)
	if err != nil {
		return fmt.Errorf("mongo: check duplicate usage logs: %w", err)
	}
	updates = append(updates, stale...)
	groups := map[target][]bson.ObjectID{}
	var torder []target
	for _, i := range updates {
		r := &records[i]
		t := target{category: bson.ObjectID(r.CategoryID)}
		if r.Activity.CategorizedDataID.IsZero() {
			t.cd = full(i).CategorizedDataID
		}
		if _, ok := groups[t]; !ok {
			torder = append(torder, t)
		}
		groups[t] = append(groups[t], bson.ObjectID(r.UsageLogID))
	}
	ups := make([]update, 0, len(torder))
	for _, t := range torder {
		set := bson.D{{Key: "categoryId", Value: t.category}}
		if !t.cd.IsZero() {
			set = append(set, bson.E{Key: fieldCategorizedID, Value: t.cd})
		}
		ups = append(ups, update{ids: groups[t], set: set, insert: func(id bson.ObjectID) any { return full(last[id]) }})
	}
	missing, err := s.updateMany(ctx, s.logs, ups)
	if err != nil {
		return fmt.Errorf("mongo: update usage logs: %w", err)
	}
	if len(missing) > 0 {
		docs := make([]any, 0, len(missing))
		for _, id := range missing {
			docs = append(docs, full(last[id]))
		}
		if _, err := s.insert(ctx, s.logs, docs); err != nil {
			return fmt.Errorf("mongo: insert usage logs named by id: %w", err)
		}
	}
	return nil
}

// stale returns the record indexes, among the inserts that failed with a
// duplicate key (dups index insertIdx), whose stored usage log differs
// from the record's in categoryId or CategorizedDataId. They are found
// with finds of _id $in (MaxIDs ids each), or one find by _id each on
// FerretDB when it serves those from an index (it scans the collection
// for any $in).
func (s *Store) stale(ctx context.Context, records []pipeline.Record, dups, insertIdx []int, full func(int) logDoc) ([]int, error) {
	if len(dups) == 0 {
		return nil, nil
	}
	byID := make(map[bson.ObjectID]int, len(dups))
	ids := make([]bson.ObjectID, 0, len(dups))
	for _, d := range dups {
		i := insertIdx[d]
		id := bson.ObjectID(records[i].UsageLogID)
		byID[id] = i
		ids = append(ids, id)
	}
	// Per document unless the server scans for an _id (then one $in per
	// MaxIDs ids: a scan each, where one find each would scan once per id).
	size := 1
	if !s.perDoc || s.idScans {
		size = s.cfg.MaxIDs
	}
	found, err := findByIDs[logState](ctx, s, s.logs, ids, size, bson.D{{Key: "categoryId", Value: 1}, {Key: fieldCategorizedID, Value: 1}})
	if err != nil {
		return nil, err
	}
	var out []int
	for _, id := range ids {
		i := byID[id]
		f, ok := found[id]
		if want := full(i); !ok || f.CategoryID != want.CategoryID || f.CD != want.CategorizedDataID {
			out = append(out, i)
		}
	}
	return out, nil
}

// update sets set on the documents with ids. insert, when set, is the
// whole document of an id that does not exist yet: per document, it is
// upserted ($setOnInsert of its other fields) rather than reported missing.
type update struct {
	ids    []bson.ObjectID
	set    bson.D
	insert func(id bson.ObjectID) any
}

// onInsert returns doc's fields but _id and those of set.
func onInsert(doc any, set bson.D) (bson.D, error) {
	raw, err := bson.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var all bson.D
	if err := bson.Unmarshal(raw, &all); err != nil {
		return nil, err
	}
	out := make(bson.D, 0, len(all))
	for _, e := range all {
		if e.Key != "_id" && !slices.ContainsFunc(set, func(s bson.E) bool { return s.Key == e.Key }) {
			out = append(out, e)
		}
	}
	return out, nil
}

// find runs a find command and decodes every document it returns into
// out. Through RunCommandCursor rather than Collection.Find, which omits
// maxTimeMS (DRIVERS-2722): the command carries the client's timeout, so
// the server stops a find the client gave up on.
func (s *Store) find(ctx context.Context, coll *mongo.Collection, filter, projection, sort bson.D, out any) error {
	cmd := bson.D{{Key: "find", Value: coll.Name()}, {Key: "filter", Value: filter}}
	if projection != nil {
		cmd = append(cmd, bson.E{Key: "projection", Value: projection})
	}
	if sort != nil {
		cmd = append(cmd, bson.E{Key: "sort", Value: sort})
	}
	cur, err := coll.Database().RunCommandCursor(ctx, cmd)
	if err != nil {
		return err
	}
	return cur.All(ctx, out)
}

// updateMany applies updates as updateMany statements (MaxIDs ids each) in
// unordered bulk writes of MaxStatements statements, and returns the ids
// that matched no document: found with finds of MaxIDs ids only when the
// writes matched fewer documents than they named. An id appears in one
// update at most.
//
// Per document (Config.PerDocument), each id is one update statement
// filtered on _id alone, first without upsert: on FerretDB an upsert costs
// the server about 15% more than a plain update of a document that exists
// (issue 29), and the documents a Save names almost always exist (the main
// server created them). A command whose statements matched fewer documents
// than they named is sent again as upserts ($setOnInsert of the update's
// insert document; the $set of the others writes what it wrote): no lookup
// of missing ids, and nothing is reported missing. On a server that scans
// for an _id (idScans) the statements are upserts at once: a miss would
// cost two scans.
func (s *Store) updateMany(ctx context.Context, coll *mongo.Collection, updates []update) ([]bson.ObjectID, error) {
	if s.perDoc {
		return nil, s.updatePerDocument(ctx, coll, updates)
	}
	var models []mongo.WriteModel
	var all []bson.ObjectID
	for _, u := range updates {
		for chunk := range slices.Chunk(u.ids, s.cfg.MaxIDs) {
			models = append(models, mongo.NewUpdateManyModel().
				SetFilter(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: chunk}}}}).
				SetUpdate(bson.D{{Key: "$set", Value: u.set}}))
		}
		all = append(all, u.ids...)
	}
	var matched int64
	for chunk := range slices.Chunk(models, s.cfg.MaxStatements) {
		res, err := s.bulk(ctx, coll, chunk)
		if err != nil {
			return nil, err
		}
		matched += res.MatchedCount
	}
	if matched == int64(len(all)) {
		return nil, nil
	}
	found, err := findByIDs[idOnly](ctx, s, coll, all, s.cfg.MaxIDs, bson.D{{Key: "_id", Value: 1}})
	if err != nil {
		return nil, err
	}
	var missing []bson.ObjectID
	for _, id := range all {
		if _, ok := found[id]; !ok {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// updatePerDocument is updateMany per document: statementsPerCommand
// statements a command, each filtered on one _id, a command that matched
// fewer documents than it named sent again as upserts (upserts at once
// where idScans).
//
// The statements are multi (updateMany), never updateOne, though an _id
// names one document: FerretDB 1.24 (handler/msg_update.go) keeps each
// statement's query open until the whole command ends, and a single-document
// statement stops reading after its document, so its query (one SQLite
// connection of a pool of 100) stays held; a multi statement reads its
// query to the end, which releases the connection. Concurrent commands of
// updateOne statements (several processes) took every connection, each
// waiting for one more, and FerretDB answered nothing again
// (TestConcurrentUpdatesByIDDoNotStallFerretDB).
func (s *Store) updatePerDocument(ctx context.Context, coll *mongo.Collection, updates []update) error {
	type one struct {
		id bson.ObjectID
		u  *update
	}
	var todo []one
	for i := range updates {
		for _, id := range updates[i].ids {
			todo = append(todo, one{id, &updates[i]})
		}
	}
	for len(todo) > 0 {
		chunk := todo[:min(len(todo), s.statementsPerCommand(coll.Name()))]
		todo = todo[len(chunk):]
		models := make([]mongo.WriteModel, len(chunk))
		if !s.idScans {
			for i, o := range chunk {
				models[i] = mongo.NewUpdateManyModel().SetFilter(bson.D{{Key: "_id", Value: o.id}}).
					SetUpdate(bson.D{{Key: "$set", Value: o.u.set}})
			}
			res, err := s.bulk(ctx, coll, models)
			if err != nil {
				return err
			}
			if res.MatchedCount == int64(len(chunk)) {
				continue
			}
		}
		for i, o := range chunk {
			upd := bson.D{{Key: "$set", Value: o.u.set}}
			if o.u.insert != nil {
				soi, err := onInsert(o.u.insert(o.id), o.u.set)
				if err != nil {
					return err
				}
				if len(soi) > 0 {
					upd = append(upd, bson.E{Key: "$setOnInsert", Value: soi})
				}
			}
			models[i] = mongo.NewUpdateManyModel().SetFilter(bson.D{{Key: "_id", Value: o.id}}).SetUpdate(upd).SetUpsert(o.u.insert != nil)
		}
		start := time.Now()
		if _, err := s.bulk(ctx, coll, models); err != nil {
			return err
		}
		s.tookPerStatement(coll.Name(), time.Since(start), len(chunk))
	}
	return nil
}

// bulk sends models as one unordered bulk write, counted.
func (s *Store) bulk(ctx context.Context, coll *mongo.Collection, models []mongo.WriteModel) (*mongo.BulkWriteResult, error) {
	s.commands.Add(1)
	s.updates.Add(int64(len(models)))
	return coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
}

// idOnly is a document read for its _id alone.
type idOnly struct {
	ID bson.ObjectID `bson:"_id"`
}

func (d idOnly) id() bson.ObjectID { return d.ID }

// logState is a usage log read for what a retry may change.
type logState struct {
	ID         bson.ObjectID `bson:"_id"`
	CategoryID bson.ObjectID `bson:"categoryId"`
	CD         bson.ObjectID `bson:"CategorizedDataId"`
}

func (d logState) id() bson.ObjectID { return d.ID }

// findByIDs finds the documents of coll with ids (projected), in finds of
// _id $in of size ids each, or of {_id: X} when size is 1, and returns
// them by id.
func findByIDs[T interface{ id() bson.ObjectID }](ctx context.Context, s *Store, coll *mongo.Collection, ids []bson.ObjectID, size int, projection bson.D) (map[bson.ObjectID]T, error) {
	out := make(map[bson.ObjectID]T, len(ids))
	for chunk := range slices.Chunk(ids, size) {
		s.commands.Add(1)
		filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: chunk}}}}
		if size == 1 {
			filter = bson.D{{Key: "_id", Value: chunk[0]}}
		}
		var found []T
		if err := s.find(ctx, coll, filter, projection, nil, &found); err != nil {
			return nil, err
		}
		for _, f := range found {
			out[f.id()] = f
		}
	}
	return out, nil
}

// insert inserts docs unordered, InsertBatch per command, and returns the
// indexes (into docs) that failed with a duplicate key; any other write
// error is returned.
func (s *Store) insert(ctx context.Context, coll *mongo.Collection, docs []any) ([]int, error) {
	var dups []int
	for start := 0; start < len(docs); start += s.cfg.InsertBatch {
		chunk := docs[start:min(start+s.cfg.InsertBatch, len(docs))]
		s.commands.Add(1)
		s.ins.Add(int64(len(chunk)))
		_, err := coll.InsertMany(ctx, chunk, options.InsertMany().SetOrdered(false))
		if err == nil {
			continue
		}
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
			return nil, err
		}
		for _, we := range bwe.WriteErrors {
			if !mongo.IsDuplicateKeyError(we) {
				return nil, err
			}
			dups = append(dups, start+we.Index)
		}
	}
	return dups, nil
}

// PartitionCollection records which input stream owns each partition
// (ClaimPartition): {_id: partition, stream, redis, db, claimedAt} (redis
// and db missing in claims recorded before sources were).
const PartitionCollection = "pomocore_partition"

// ClaimPartition implements pipeline.PartitionClaimer with the collection
// pomocore_partition (an insert on _id, then a read of the owner; a claim
// of the stream's key alone is taken over with a conditional update). To
// give a partition to another source, delete its document:
// db.pomocore_partition.deleteOne({_id: N}).
func (s *Store) ClaimPartition(ctx context.Context, partition uint8, src pipeline.PartitionSource) error {
	coll := s.logs.Database().Collection(PartitionCollection)
	s.commands.Add(2)
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: int32(partition)}, {Key: "stream", Value: src.Stream},
		{Key: "redis", Value: src.Redis}, {Key: "db", Value: int32(src.DB)}, {Key: "claimedAt", Value: time.Now().UTC()}})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("mongo: claim partition %d: %w", partition, err)
	}
	var owner struct {
		Stream string  `bson:"stream"`
		Redis  *string `bson:"redis"`
		DB     int32   `bson:"db"`
	}
	find := func() error {
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: int32(partition)}}).Decode(&owner); err != nil {
			return fmt.Errorf("mongo: claim partition %d: %w", partition, err)
		}
		return nil
	}
	if err := find(); err != nil {
		return err
	}
	if owner.Redis == nil && owner.Stream == src.Stream {
		// A claim of the stream's key alone: this source takes it over,
		// unless another did first (then it is read again).
		s.commands.Add(2)
		if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: int32(partition)}, {Key: "redis", Value: bson.D{{Key: "$exists", Value: false}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "redis", Value: src.Redis}, {Key: "db", Value: int32(src.DB)}}}}); err != nil {
			return fmt.Errorf("mongo: claim partition %d: %w", partition, err)
		}
		if err := find(); err != nil {
			return err
		}
	}
	got := pipeline.PartitionSource{Stream: owner.Stream, DB: int(owner.DB)}
	if owner.Redis != nil {
		got.Redis = *owner.Redis
	}
	if got != src {
		return &pipeline.PartitionTakenError{Partition: partition, Owner: got, Claimer: src,
			Release: fmt.Sprintf("db.%s.deleteOne({_id: %d})", PartitionCollection, partition)}
	}
	return nil
}

// LoadPatterns implements pipeline.Patterns.
func (s *Store) LoadPatterns(ctx context.Context) ([]pomocore.CategoryPattern, error) {
	s.commands.Add(1)
	docs, err := findAll[patternDoc](ctx, s.patterns, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}), "category_pattern")
	if err != nil {
		return nil, err
	}
	out := make([]pomocore.CategoryPattern, len(docs))
	for i, d := range docs {
		out[i] = d.domain()
		out[i].AppPatterns, out[i].DomainPatterns = nonNil(d.AppPatterns), nonNil(d.DomainPatterns)
	}
	return out, nil
}

// findAll reads every document of coll that filter matches, as opts
// orders and limits them; what names the read in its errors.
func findAll[D any](ctx context.Context, coll *mongo.Collection, filter any, opts *options.FindOptionsBuilder, what string) ([]D, error) {
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("mongo: find %s: %w", what, err)
	}
	var docs []D
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: read %s: %w", what, err)
	}
	return docs, nil
}

// SeedPatterns implements pipeline.Patterns. Two instances seeding at once
// may both see an empty collection; the documents carry the defaults' ids
// when given, so give ids for a race-free seed.
func (s *Store) SeedPatterns(ctx context.Context, defaults []pomocore.CategoryPattern) (bool, error) {
	s.commands.Add(1)
	n, err := s.patterns.CountDocuments(ctx, bson.D{})
	if err != nil {
		return false, fmt.Errorf("mongo: count category_pattern: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	// Ids follow from the category, so that processes seeding an empty
	// collection at once insert the same documents (the others' inserts
	// are duplicates) rather than each its own copy of every category.
	docs := make([]any, len(defaults))
	for i, p := range defaults {
		if p.ID.IsZero() {
			p.ID = seedID(p.Category)
		}
		docs[i] = patternDoc{ID: bson.ObjectID(p.ID), Category: p.Category, Priority: p.Priority,
			AppPatterns: nonNil(p.AppPatterns), DomainPatterns: nonNil(p.DomainPatterns), TitleRules: p.TitleRules}
	}
	dups, err := s.insert(ctx, s.patterns, docs)
	if err != nil {
		return false, fmt.Errorf("mongo: seed category_pattern: %w", err)
	}
	return len(dups) < len(docs), nil
}

// seedID is the _id a seeded category_pattern document of category gets:
// the first 12 bytes of a SHA-256 of its name.
func seedID(category string) pomocore.ObjectID {
	sum := sha256.Sum256([]byte("pomocore category_pattern seed\x00" + category))
	var id pomocore.ObjectID
	copy(id[:], sum[:])
	return id
}

// UsageLogsBetween implements pipeline.UsageLogReader, 1,000 logs a batch.
func (s *Store) UsageLogsBetween(ctx context.Context, from, to float64, f func([]pomocore.UsageLog) error) error {
	s.commands.Add(1)
	cur, err := s.logs.Find(ctx, bson.D{{Key: "timestamp", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: to}}}},
		options.Find().SetBatchSize(1000))
	if err != nil {
		return fmt.Errorf("mongo: usage logs: %w", err)
	}
	defer cur.Close(ctx)
	batch := make([]pomocore.UsageLog, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := f(batch)
		batch = batch[:0]
		return err
	}
	for cur.Next(ctx) {
		var l logRead
		if err := cur.Decode(&l); err != nil {
			return fmt.Errorf("mongo: usage log: %w", err)
		}
		batch = append(batch, l.domain(s.cfg.Location))
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("mongo: usage logs: %w", err)
	}
	return flush()
}

// UpsertPattern implements pipeline.PatternEditor.
func (s *Store) UpsertPattern(ctx context.Context, p pomocore.CategoryPattern) error {
	if p.ID.IsZero() {
		return errors.New("mongo: upsert pattern: zero id")
	}
	s.commands.Add(1)
	s.updates.Add(1)
	doc := patternDoc{ID: bson.ObjectID(p.ID), Category: p.Category, Priority: p.Priority,
		AppPatterns: nonNil(p.AppPatterns), DomainPatterns: nonNil(p.DomainPatterns), TitleRules: p.TitleRules}
	if _, err := s.patterns.ReplaceOne(ctx, bson.D{{Key: "_id", Value: doc.ID}}, doc, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("mongo: upsert pattern %s: %w", p.Category, err)
	}
	return nil
}

// LLMAnswers implements pipeline.LLMMemory.
func (s *Store) LLMAnswers(ctx context.Context, limit int) ([]pomocore.CategorizedData, error) {
	s.commands.Add(1)
	// Spring's IsLLMBased, else the older data server's isLLMBased.
	llm := bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: fieldLLMBased, Value: true}},
		bson.D{{Key: fieldLLMBased, Value: bson.D{{Key: "$exists", Value: false}}}, {Key: fieldOldLLMBased, Value: true}},
	}}}
	docs, err := findAll[cdDoc](ctx, s.cd, llm, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit)), "LLM answers")
	if err != nil {
		return nil, err
	}
	out := make([]pomocore.CategorizedData, len(docs))
	for i, d := range docs {
		out[i] = d.domain()
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Secrets returns the parts of a MongoDB URI that must never be logged: the
// URI itself and its password (raw and unescaped), for log redaction.
func Secrets(uri string) []string {
	out := []string{uri}
	if pw := password(uri); pw != "" {
		out = append(out, pw)
		if raw := rawPassword(uri); raw != pw {
			out = append(out, raw)
		}
	}
	return out
}

func password(uri string) string {
	pw := rawPassword(uri)
	if u, err := url.PathUnescape(pw); err == nil && u != "" {
		return u
	}
	return pw
}

func rawPassword(uri string) string {
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return ""
	}
	userinfo, _, ok := strings.Cut(rest, "@")
	if !ok {
		return ""
	}
	_, pw, _ := strings.Cut(userinfo, ":")
	return pw
}
