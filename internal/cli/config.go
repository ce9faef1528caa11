package cli

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"selection/ingest"
	"selection/selection"
)

// Config is every setting of the service, in sections. Each field states its default and its
// environment variable; the settings table (settings.go) binds the variables to the fields and
// is what `selection config` prints and README.md's table documents. Main reads the
// environment once, with LoadConfig, and passes the Config down; nothing below reads it again.
type Config struct {
	// DatabaseURL is the Postgres connection URL (DATABASE_URL). Default: pg.DefaultURL.
	DatabaseURL string
	// LogLevel is debug, info, warn or error (SELECTION_LOG_LEVEL). Default "info".
	LogLevel string
	// LogFormat is text or json (SELECTION_LOG_FORMAT). Default "text".
	LogFormat string
	// ModelDir holds the USE-Lite model files (SELECTION_MODEL_DIR).
	// Default "/var/cache/selection/models/use-lite-0.2.0".
	ModelDir string
	// HTTPAddr is where the API and the web page listen (SELECTION_HTTP_ADDR).
	// Default "127.0.0.1:8080".
	HTTPAddr string
	// ShutdownWait bounds a graceful shutdown (SELECTION_SHUTDOWN_WAIT). Default 10s.
	ShutdownWait time.Duration
	// GCPercent is the garbage collector's target heap growth, as GOGC (SELECTION_GC_PERCENT).
	// Default 100, Go's own. 300 was measured at 1M SKUs (3 GB live): fewer collections, but
	// a pass in which one ended, or in which the heap grew into fresh memory, took two to three
	// times as long, and the stream's freshness p99 went from 22.8 to 32.9 s. The GOGC variable,
	// when set, wins.
	GCPercent int
	// GCMemoryShare is the collector's soft memory limit as a share of the machine's memory
	// (or its cgroup's limit) (SELECTION_GC_MEMORY_SHARE): nearer it, it collects more often,
	// whatever GCPercent. Default 0.75; 0: no limit. The GOMEMLIMIT variable, when set, wins.
	GCMemoryShare float64
	// Kernel is the numeric kernel path of the embedding model and the in-memory vector index
	// (SELECTION_KERNEL): auto (the fastest the build and CPU support: AVX-512, else AVX2+FMA,
	// else portable), avx512, avx2 or portable. Default "auto"; a path the machine lacks is
	// refused when the configuration is read.
	Kernel string

	Serve   ServeConfig
	API     APIConfig
	Ingest  IngestConfig
	Vectors VectorsConfig
	Embed   EmbedConfig
	Demo    DemoConfig
}

// ServeConfig is the running service's own settings: keys, pool refresh, planner, currency.
type ServeConfig struct {
	// APIKeys are static keys, name:role:key (SELECTION_API_KEYS). Default: none.
	APIKeys []string
	// PoolRefresh is how often pools are refreshed incrementally (SELECTION_POOL_REFRESH).
	// Default 15s; negative: never (the variable's 0).
	PoolRefresh time.Duration
	// RefreshTakeover is how often a replica that does not run the pool refresher tries to take
	// it over, and how often the one that runs it checks that it still holds it: a Postgres
	// advisory lock on a connection of its own, so that one refresher runs among the replicas
	// of a database and another takes over within about this after its replica dies
	// (SELECTION_POOL_REFRESH_TAKEOVER). Default 2s.
	RefreshTakeover time.Duration
	// RefreshWorkers is how many pools a pass refreshes at once (SELECTION_POOL_REFRESH_WORKERS;
	// default 0: GOMAXPROCS), and PoolBudget how long one pool's refresh may take
	// (SELECTION_POOL_REFRESH_BUDGET; default 30s).
	RefreshWorkers int
	PoolBudget     time.Duration
	// RefreshCollect, "on", collects the Go heap's garbage as a refresh pass ends when it is
	// due (selection.Service.CollectAfterPass says when), so the collection falls between passes
	// (SELECTION_POOL_REFRESH_COLLECT, on or off). Default on.
	RefreshCollect string
	// JournalFor is how long the tag index keeps the rows its writes replace, for the refresh's
	// check that a SKU passed a pool's filter all along (SELECTION_POOL_REFRESH_JOURNAL_FOR;
	// tagger.Config.JournalFor). Default 3m; 0: off.
	JournalFor time.Duration
	// Approval requires an approver's key to publish, unpublish, archive or roll back a pool;
	// a planner's new pools start as drafts (SELECTION_POOL_APPROVAL, on or off). Default off.
	Approval string
	// VersionRetention is which pool versions the leader keeps when it prunes, after a refresh
	// pass at most every 10 minutes: each pool's newest Keep and every version younger than
	// KeepFor (SELECTION_POOL_VERSIONS_KEEP, default 100; SELECTION_POOL_VERSIONS_KEEP_FOR,
	// default 168h).
	VersionRetention selection.Retention
	// EventRetention is how long the leader keeps accepted events and dead letters when it
	// prunes (SELECTION_EVENTS_KEEP_FOR, SELECTION_DEAD_LETTERS_KEEP_FOR; default 720h each),
	// SELECTION_EVENTS_PRUNE_BATCH rows a statement (default 10,000).
	EventRetention ingest.EventRetention
	// LLMProvider is the LLM planner: "" (none), "openai" or "ollama" (SELECTION_LLM_PROVIDER).
	// Default "".
	LLMProvider string
	// LLMModel is the planner's model (SELECTION_LLM_MODEL). Default "": the provider's.
	LLMModel string
	// LLMBaseURL is the LLM server (SELECTION_LLM_BASE_URL). Default "": the provider's.
	LLMBaseURL string
	// LLMAPIKey is the LLM server's key (SELECTION_LLM_API_KEY). Default "".
	LLMAPIKey string
	// Currency is the currency of catalogue prices (SELECTION_CURRENCY). Default "USD".
	Currency string
	// Intents is "on" to restrict a scenario's pool to the product types its text names, and
	// the SKUs of other types holding every word of its query (search.Intents), or "off"
	// (SELECTION_INTENTS). Default "on": pool F1 0.747 against 0.368 without, keyword nDCG@10
	// 0.783 (evals/README.md).
	Intents string
	// JudgedQueries is a CSV of judged queries (query,sku_id,rating, as the Chorus judgments)
	// from which intent resolution learns the words people use for the catalogue's types
	// (SELECTION_JUDGED_QUERIES). Default "": the demo data's judgments.csv when there is one;
	// "off": none.
	JudgedQueries string
}

// APIConfig is the HTTP server's limits.
type APIConfig struct {
	// ReadTimeout bounds reading a whole request (SELECTION_HTTP_READ_TIMEOUT). Default 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from its headers to the end of its answer
	// (SELECTION_HTTP_WRITE_TIMEOUT). Default 60s.
	WriteTimeout time.Duration
	// IdleTimeout bounds an idle keep-alive connection (SELECTION_HTTP_IDLE_TIMEOUT).
	// Default 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (SELECTION_HTTP_MAX_HEADER_BYTES). Default 32768.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request's body (SELECTION_HTTP_MAX_BODY_BYTES). Default 1048576.
	MaxBodyBytes int
	// RatePerAddress is requests per second from one client address
	// (SELECTION_API_RATE_PER_ADDRESS). Default 100; negative: no limit (the variable's 0).
	RatePerAddress float64
	// RatePerKey is requests per second with one API key (SELECTION_API_RATE_PER_KEY).
	// Default 50; negative: no limit (the variable's 0).
	RatePerKey float64
	// KeyLookupRate is database lookups per second of unseen API keys
	// (SELECTION_API_KEY_LOOKUP_RATE). Default 20; negative: no limit (the variable's 0).
	KeyLookupRate float64
	// KeyRecheck is how long a valid key is trusted before api_keys is read again
	// (SELECTION_API_KEY_RECHECK). Default 5s.
	KeyRecheck time.Duration
}

// IngestConfig is Kafka and the ingest consumer.
type IngestConfig struct {
	// Brokers are Kafka seed brokers (SELECTION_KAFKA_BROKERS). Default: none, the embedded
	// broker.
	Brokers []string
	// Topic carries the SKU events (SELECTION_KAFKA_TOPIC). Default ingest.DefaultTopic.
	Topic string
	// Group is the consumer group (SELECTION_KAFKA_GROUP). Default ingest.DefaultGroup.
	Group string
	// DataDir is the embedded broker's data (SELECTION_KAFKA_DATA_DIR).
	// Default "/var/lib/selection/kafka".
	DataDir string
	// Port is the embedded broker's port on 127.0.0.1 (SELECTION_KAFKA_PORT). Default 9092.
	Port int
	// Partitions of the topics ingest creates (SELECTION_KAFKA_PARTITIONS).
	// Default ingest.DefaultPartitions.
	Partitions int
	// Poll is records per consumer poll (SELECTION_INGEST_POLL). Default 20000.
	Poll int
	// MaxSkew is how far in the future an event may be (SELECTION_INGEST_MAX_SKEW). Default 5m.
	MaxSkew time.Duration
	// DBConns is the consumer's own Postgres connections (SELECTION_INGEST_DB_CONNS). Default 8.
	DBConns int
	// SessionTimeout is how long the consumer group waits for a member that stopped
	// heartbeating (its replica was killed) before its partitions move to the other members
	// (SELECTION_KAFKA_SESSION_TIMEOUT). Default 45s, Kafka's; a broker refuses values outside
	// its group.min/max.session.timeout.ms (6 s to 30 min by default).
	SessionTimeout time.Duration
}

// VectorsConfig is the embedding worker, the in-memory vector index and the pgvector planner.
type VectorsConfig struct {
	// EmbedBatch is SKUs per embedding transaction (SELECTION_EMBED_BATCH). Default 128.
	EmbedBatch int
	// EmbedCache is "on" (the Postgres embedding cache) or "off" (SELECTION_EMBED_CACHE).
	// Default "on".
	EmbedCache string
	// Memory is what the in-memory index may take, in bytes (SELECTION_VECTOR_MEMORY).
	// Default 8 GiB; negative: no in-memory index, search through pgvector (the variable's 0).
	Memory int64
	// Poll is how often the in-memory index polls sku_vectors (SELECTION_VECTOR_POLL).
	// Default 500ms.
	Poll time.Duration
	// EfSearch is pgvector's hnsw.ef_search (SELECTION_HNSW_EF_SEARCH). Default 400.
	EfSearch int
	// PGExactMax is the largest candidate set pgvector ranks exactly (SELECTION_PG_EXACT_MAX).
	// Default vectorindex.DefaultPGExactMax.
	PGExactMax int
	// QuantizedMin is where the in-memory index's 1-bit first pass starts
	// (SELECTION_VECTOR_QUANTIZED_MIN). Default vectorindex.DefaultQuantizedMin.
	QuantizedMin int
	// ListsFrom is where the in-memory index's lists path starts (SELECTION_VECTOR_LISTS_FROM;
	// -1: never). Default vectorindex.DefaultListsFrom.
	ListsFrom int
}

// EmbedConfig chooses the embedding model.
type EmbedConfig struct {
	// Provider is "local" (USE-Lite in process), "openai" or "ollama"
	// (SELECTION_EMBED_PROVIDER). Default "local".
	Provider string
	// Model is the remote model (SELECTION_EMBED_MODEL). Default "": the provider's.
	Model string
	// BaseURL is the remote server (SELECTION_EMBED_BASE_URL). Default "": the provider's.
	BaseURL string
	// APIKey is the remote server's key (SELECTION_EMBED_API_KEY). Default "".
	APIKey string
	// Dimension is the remote model's output dimension (SELECTION_EMBED_DIMENSION).
	// Default 0: known models' own, else asked once.
	Dimension int
}

// DemoConfig is the demo's data.
type DemoConfig struct {
	// Data is the directory of the Icecat zips (SELECTION_DEMO_DATA).
	// Default "evals/testdata/icecat".
	Data string
}

// setting binds one environment variable to one field of Config.
type setting struct {
	env, def, help string
	set            func(c *Config, v string) error // parse v into the field (checked)
	check          func(c *Config) error           // the field's value is allowed
	zero           func(c *Config) bool            // the field holds its zero value
	copy           func(dst, src *Config)          // the field from src to dst
}

// bind makes the setting of the field at field: parse reads the variable, check (optional)
// bounds the value, for the variable and for a Config built in code alike.
func bind[T any](env, def, help string, field func(*Config) *T, parse func(string) (T, error), check func(T) error) setting {
	if check == nil {
		check = func(T) error { return nil }
	}
	return setting{env: env, def: def, help: help,
		set: func(c *Config, v string) error {
			x, err := parse(v)
			if err != nil {
				return err
			}
			if err := check(x); err != nil {
				return err
			}
			*field(c) = x
			return nil
		},
		check: func(c *Config) error { return check(*field(c)) },
		zero:  func(c *Config) bool { return reflect.ValueOf(field(c)).Elem().IsZero() },
		copy:  func(dst, src *Config) { *field(dst) = *field(src) },
	}
}

// LoadConfig reads every setting once, from getenv, falling back to its default.
func LoadConfig(getenv func(string) string) (Config, error) {
	var c Config
	for _, s := range settings {
		v := getenv(s.env)
		if v == "" {
			v = s.def
		}
		if err := s.set(&c, v); err != nil {
			return c, fmt.Errorf("%s=%s: %w", s.env, shownValue(s.env, v), err)
		}
	}
	return c, c.validate()
}

var defaults = sync.OnceValue(func() Config {
	c, err := LoadConfig(func(string) string { return "" })
	if err != nil {
		panic("cli: a setting's default does not parse: " + err.Error())
	}
	return c
})

// DefaultConfig is every setting at its default.
func DefaultConfig() Config { return defaults() }

// WithDefaults fills zero fields with their defaults.
func (c Config) WithDefaults() Config {
	d := defaults()
	for _, s := range settings {
		if s.zero(&c) {
			s.copy(&c, &d)
		}
	}
	return c
}

// validate checks every field's value, naming the variable of a wrong one (without its value:
// it may be a secret).
func (c Config) validate() error {
	var errs []error
	for _, s := range settings {
		if err := s.check(&c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.env, err))
		}
	}
	return errors.Join(errs...)
}

// secretSettings hold keys: a configuration error names them without their value.
var secretSettings = map[string]bool{"SELECTION_API_KEYS": true, "SELECTION_LLM_API_KEY": true, "SELECTION_EMBED_API_KEY": true}

// shownValue is a setting's value as an error message may show it: hidden for secrets, without
// the password for the database URL.
func shownValue(env, v string) string {
	switch {
	case secretSettings[env]:
		return "(value hidden)"
	case env == "DATABASE_URL":
		return strconv.Quote(redactURL(v))
	}
	return strconv.Quote(v)
}

// printSettings writes the settings table (name, default, meaning).
func printSettings(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, s := range settings {
		def := s.def
		if s.env == "DATABASE_URL" {
			def = redactURL(def)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.env, def, s.help)
	}
	tw.Flush()
}

// redactURL hides the password of a postgres URL.
func redactURL(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 {
		return u
	}
	userinfo := u[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return u[:scheme+3] + userinfo[:i] + ":***" + u[at:]
	}
	return u
}
