package cli

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"selection/api"
	"selection/embed"
	"selection/ingest"
	"selection/internal/cpukernel"
	"selection/internal/pg"
	"selection/selection"
	"selection/vectorindex"
)

// settings binds every environment variable to its field of Config, with its default and its
// meaning, in the order of `selection config` and README.md's table.
var settings = []setting{
	bind("DATABASE_URL", pg.DefaultURL, "Postgres connection URL (the setup creates this database)",
		func(c *Config) *string { return &c.DatabaseURL }, text, nil),
	bind("SELECTION_LOG_LEVEL", "info", "log level: debug, info, warn, error",
		func(c *Config) *string { return &c.LogLevel }, text, oneOf("debug", "info", "warn", "error")),
	bind("SELECTION_LOG_FORMAT", "text", "log format: text or json",
		func(c *Config) *string { return &c.LogFormat }, text, oneOf("text", "json")),
	bind("SELECTION_MODEL_DIR", "/var/cache/selection/models/use-lite-0.2.0", "directory of the USE-Lite model files (the setup fills it)",
		func(c *Config) *string { return &c.ModelDir }, text, nil),
	bind("SELECTION_KERNEL", string(cpukernel.Auto), "numeric kernels of the embedding model and the in-memory vector index: auto (fastest the CPU supports: avx512, else avx2 with FMA, else portable) or one of those to force it; a path the CPU lacks is an error at start",
		func(c *Config) *string { return &c.Kernel }, text, kernelCheck),
	bind("SELECTION_HTTP_ADDR", "127.0.0.1:8080", "address the API and web page listen on",
		func(c *Config) *string { return &c.HTTPAddr }, text, nil),
	bind("SELECTION_SHUTDOWN_WAIT", "10s", "how long a graceful shutdown may take",
		func(c *Config) *time.Duration { return &c.ShutdownWait }, time.ParseDuration, nil),

	bind("SELECTION_GC_PERCENT", "100", "the garbage collector's target heap growth, as GOGC (which wins when set); 300 collected less often but made the passes a collection or fresh memory fell in two to three times as long",
		func(c *Config) *int { return &c.GCPercent }, whole, between(10, 10000)),
	bind("SELECTION_GC_MEMORY_SHARE", "0.75", "the garbage collector's soft memory limit as a share of the machine's (or cgroup's) memory, as GOMEMLIMIT (which wins when set); 0: none",
		func(c *Config) *float64 { return &c.GCMemoryShare }, share, nil),

	bind("SELECTION_HTTP_READ_TIMEOUT", "30s", "how long a client may take to send a whole request, body included",
		func(c *Config) *time.Duration { return &c.API.ReadTimeout }, time.ParseDuration, positive[time.Duration]),
	bind("SELECTION_HTTP_WRITE_TIMEOUT", "60s", "how long a request may take from the end of its headers to the end of its answer (above the 30 s an API request may work)",
		func(c *Config) *time.Duration { return &c.API.WriteTimeout }, time.ParseDuration, positive[time.Duration]),
	bind("SELECTION_HTTP_IDLE_TIMEOUT", "120s", "how long an idle keep-alive connection stays open",
		func(c *Config) *time.Duration { return &c.API.IdleTimeout }, time.ParseDuration, positive[time.Duration]),
	bind("SELECTION_HTTP_MAX_HEADER_BYTES", "32768", "largest request header block, in bytes (431 past it)",
		func(c *Config) *int { return &c.API.MaxHeaderBytes }, whole, between(1024, 1<<20)),
	bind("SELECTION_HTTP_MAX_BODY_BYTES", "1048576", "largest request body, in bytes (413 past it); a plan with its most pins and exclusions needs about 250 KiB",
		func(c *Config) *int { return &c.API.MaxBodyBytes }, whole, between(4096, 64<<20)),
	bind("SELECTION_API_RATE_PER_ADDRESS", "100", "requests per second from one client address (IPv6: one /64), burst twice that, on every route; past it 429 with Retry-After (0 turns it off)",
		func(c *Config) *float64 { return &c.API.RatePerAddress }, rate, rateCheck),
	bind("SELECTION_API_RATE_PER_KEY", "50", "requests per second with one API key, burst twice that; past it 429 with Retry-After (0 turns it off)",
		func(c *Config) *float64 { return &c.API.RatePerKey }, rate, rateCheck),
	bind("SELECTION_API_KEY_LOOKUP_RATE", "20", "database lookups per second of API keys the server has not seen (or has forgotten), all clients together, burst twice that; past it such keys get 429 (0 turns it off)",
		func(c *Config) *float64 { return &c.API.KeyLookupRate }, rate, rateCheck),
	bind("SELECTION_API_KEY_RECHECK", "5s", "how long a valid API key is trusted before api_keys is read again: a revoked key stops working within it",
		func(c *Config) *time.Duration { return &c.API.KeyRecheck }, time.ParseDuration, positive[time.Duration]),
	bind("SELECTION_INGEST_DB_CONNS", "8", "Postgres connections of the ingest consumer, a pool apart from the API's (one transaction per partition at a time: keep it above SELECTION_KAFKA_PARTITIONS)",
		func(c *Config) *int { return &c.Ingest.DBConns }, whole, between(1, 1000)),

	bind("SELECTION_API_KEYS", "", "static API keys, comma-separated name:role:key (role reader, planner or approver); keys from `selection apikey create` need none",
		func(c *Config) *[]string { return &c.Serve.APIKeys }, list, func(keys []string) error {
			_, err := api.NewKeys(nil, keys, api.KeysConfig{})
			return err
		}),
	bind("SELECTION_POOL_REFRESH", "15s", "how often pools are refreshed incrementally (0 turns it off)",
		func(c *Config) *time.Duration { return &c.Serve.PoolRefresh }, offIfZero(time.ParseDuration), nil),
	bind("SELECTION_POOL_REFRESH_TAKEOVER", "2s", "replicas on one database run one pool refresher (a Postgres advisory lock): how often the others try to take it over, and the holder checks it still holds it; another takes over within about this after the holder dies",
		func(c *Config) *time.Duration { return &c.Serve.RefreshTakeover }, time.ParseDuration, positive[time.Duration]),
	bind("SELECTION_POOL_APPROVAL", "off", "on: require an approver: a planner's new pools start as drafts, and only an approver's key publishes, unpublishes, archives, edits, deletes or rolls back a published pool (readers always see published pools only)",
		func(c *Config) *string { return &c.Serve.Approval }, text, oneOf("off", "on")),
	bind("SELECTION_POOL_REFRESH_WORKERS", "0", "pools a refresh pass refreshes at once (0: one per core)",
		func(c *Config) *int { return &c.Serve.RefreshWorkers }, whole, between(0, 256)),
	bind("SELECTION_POOL_REFRESH_COLLECT", "on", "on: a refresh pass that used more than half of the Go heap's headroom, or after which a pass like the largest of the last four would reach the collector's goal, collects its garbage as it ends, so the collection falls between passes (about 0.3 s at 1M SKUs) rather than inside the next one (2-4 s of CPU there)",
		func(c *Config) *string { return &c.Serve.RefreshCollect }, text, oneOf("off", "on")),
	bind("SELECTION_POOL_REFRESH_JOURNAL_FOR", "3m", "how long at most the tag index keeps the rows its writes replace, so that a refresh pass skips a SKU whose price, stock or metrics changes (an order: stock and sales) left it passing a pool's filter all along; about 280 bytes a written row, released after each pass down to what the pools' versions still need (about the writes since the last pass: 4 MB at 1,000 events/s and a 15 s interval), so this bounds it only when passes fail (0s: off); keep it above a minute and the longest pass, the age of a version's position",
		func(c *Config) *time.Duration { return &c.Serve.JournalFor }, time.ParseDuration, func(d time.Duration) error {
			if d < 0 {
				return fmt.Errorf("must not be negative")
			}
			return nil
		}),
	bind("SELECTION_POOL_REFRESH_BUDGET", "30s", "longest one pool's refresh may take in a pass; past it the pool fails (logged) and the next pass tries again, so a slow pool cannot hold the others up",
		func(c *Config) *time.Duration { return &c.Serve.PoolBudget }, time.ParseDuration, positive[time.Duration]),
	bind("SELECTION_POOL_VERSIONS_KEEP", "100", "pool versions kept whatever their age: each pool's newest this many (the current one among them); older ones go once they are also older than SELECTION_POOL_VERSIONS_KEEP_FOR",
		func(c *Config) *int { return &c.Serve.VersionRetention.Keep }, whole, between(1, 1_000_000)),
	bind("SELECTION_POOL_VERSIONS_KEEP_FOR", "168h", "pool versions younger than this are kept (keep it above the life of an items cursor or an export in use)",
		func(c *Config) *time.Duration { return &c.Serve.VersionRetention.KeepFor }, time.ParseDuration, positive[time.Duration]),
	bind("SELECTION_EVENTS_KEEP_FOR", "720h", "accepted events (sku_events) older than this are pruned by the leader; a tag snapshot older is not loaded and a pool checked longer ago is ranked again, since the changes after them may be gone (replay rebuilds from the events kept)",
		func(c *Config) *time.Duration { return &c.Serve.EventRetention.EventsFor }, time.ParseDuration, positive[time.Duration]),
	bind("SELECTION_DEAD_LETTERS_KEEP_FOR", "720h", "dead letters older than this are pruned by the leader",
		func(c *Config) *time.Duration { return &c.Serve.EventRetention.DeadLettersFor }, time.ParseDuration, positive[time.Duration]),
	bind("SELECTION_EVENTS_PRUNE_BATCH", "10000", "rows one statement of the events' and dead letters' pruning deletes (each in its own transaction, so a long backlog holds no lock for long)",
		func(c *Config) *int { return &c.Serve.EventRetention.Batch }, whole, between(1, 1_000_000)),
	bind("SELECTION_LLM_PROVIDER", "", "LLM planner: empty (none), openai (any OpenAI-compatible server) or ollama",
		func(c *Config) *string { return &c.Serve.LLMProvider }, text, oneOf("", "openai", "ollama")),
	bind("SELECTION_LLM_MODEL", "", "the LLM planner's model name (provider default when empty)",
		func(c *Config) *string { return &c.Serve.LLMModel }, text, nil),
	bind("SELECTION_LLM_BASE_URL", "", "the LLM server's base URL (provider default when empty)",
		func(c *Config) *string { return &c.Serve.LLMBaseURL }, text, nil),
	bind("SELECTION_LLM_API_KEY", "", "the LLM server's API key, if it needs one",
		func(c *Config) *string { return &c.Serve.LLMAPIKey }, text, nil),
	bind("SELECTION_CURRENCY", "USD", "currency of catalogue prices; scenario amounts in other currencies are converted at reference rates",
		func(c *Config) *string { return &c.Serve.Currency }, text, func(v string) error {
			if _, ok := selection.CurrencyExponent[v]; !ok {
				return errors.New("unknown currency (known: USD SGD MYR THB IDR PHP VND)")
			}
			return nil
		}),
	bind("SELECTION_INTENTS", "on", "on: a scenario's product types (search.Intents) restrict its pool, with the SKUs holding every word of its query; off: its words alone select (evals/README.md)",
		func(c *Config) *string { return &c.Serve.Intents }, text, oneOf("off", "on")),
	bind("SELECTION_JUDGED_QUERIES", "", "CSV of judged queries (query,sku_id,rating) that teach intents the words people use for product types (\"laptop\": notebook); empty: SELECTION_DEMO_DATA/judgments.csv if present; off: none",
		func(c *Config) *string { return &c.Serve.JudgedQueries }, text, nil),
	bind("SELECTION_DEMO_DATA", "evals/testdata/icecat", "directory of the Icecat catalogue zips the demo loads",
		func(c *Config) *string { return &c.Demo.Data }, text, nil),

	bind("SELECTION_EMBED_PROVIDER", embed.ProviderLocal, "embedding model: local (USE-Lite in process), openai (any OpenAI-compatible /embeddings) or ollama",
		func(c *Config) *string { return &c.Embed.Provider }, text, oneOf(embed.ProviderLocal, embed.ProviderOpenAI, embed.ProviderOllama)),
	bind("SELECTION_EMBED_MODEL", "", "the remote embedding model (provider default when empty)",
		func(c *Config) *string { return &c.Embed.Model }, text, nil),
	bind("SELECTION_EMBED_BASE_URL", "", "the remote embedding server's base URL (provider default when empty)",
		func(c *Config) *string { return &c.Embed.BaseURL }, text, nil),
	bind("SELECTION_EMBED_API_KEY", "", "the remote embedding server's API key",
		func(c *Config) *string { return &c.Embed.APIKey }, text, nil),
	bind("SELECTION_EMBED_DIMENSION", "0", "the remote model's output dimension (0: known models' own, else asked once)",
		func(c *Config) *int { return &c.Embed.Dimension }, whole, between(0, 65536)),

	bind("SELECTION_EMBED_BATCH", "128", "SKUs the embedding worker takes per transaction",
		func(c *Config) *int { return &c.Vectors.EmbedBatch }, whole, between(1, 10000)),
	bind("SELECTION_EMBED_CACHE", "on", "on: look embeddings up in (and add them to) the Postgres embedding cache by text hash; off: always embed",
		func(c *Config) *string { return &c.Vectors.EmbedCache }, text, oneOf("on", "off")),
	bind("SELECTION_VECTOR_MEMORY", "8GiB", "memory the in-memory vector index may take (2.1 KiB per 512-d vector); 0 or a catalogue that does not fit: search through pgvector",
		func(c *Config) *int64 { return &c.Vectors.Memory }, offIfZero(parseBytes), nil),
	bind("SELECTION_VECTOR_POLL", "500ms", "how often the in-memory vector index polls sku_vectors for new vectors",
		func(c *Config) *time.Duration { return &c.Vectors.Poll }, time.ParseDuration, positive[time.Duration]),
	bind("SELECTION_HNSW_EF_SEARCH", "400", "pgvector hnsw.ef_search for HNSW searches (recall@10 0.99 on Icecat at 400)",
		func(c *Config) *int { return &c.Vectors.EfSearch }, whole, between(1, 1000)),
	bind("SELECTION_PG_EXACT_MAX", strconv.Itoa(vectorindex.DefaultPGExactMax), "without the in-memory index: candidate sets up to this size are ranked exactly by pgvector, larger ones through HNSW",
		func(c *Config) *int { return &c.Vectors.PGExactMax }, whole, between(0, 1<<30)),
	bind("SELECTION_VECTOR_QUANTIZED_MIN", strconv.Itoa(vectorindex.DefaultQuantizedMin), "in-memory index: candidate sets from this size use the 1-bit first pass with float32 rescoring instead of scoring every vector",
		func(c *Config) *int { return &c.Vectors.QuantizedMin }, whole, between(1, 1<<30)),
	bind("SELECTION_VECTOR_LISTS_FROM", strconv.Itoa(vectorindex.DefaultListsFrom), "in-memory index: from this many vectors the load partitions them into lists (k-means), and searches of this many candidates for at most 100 neighbours (a propagated tag's vote) read the nearest lists only; -1: never",
		func(c *Config) *int { return &c.Vectors.ListsFrom }, whole, between(-1, 1<<30)),

	bind("SELECTION_KAFKA_BROKERS", "", "Kafka seed brokers, comma-separated; empty: serve, demo and ingest start the embedded broker (kfake) in-process",
		func(c *Config) *[]string { return &c.Ingest.Brokers }, list, func(bs []string) error {
			for _, b := range bs {
				if _, _, err := net.SplitHostPort(b); err != nil {
					return fmt.Errorf("%q is not host:port", b)
				}
			}
			return nil
		}),
	bind("SELECTION_KAFKA_TOPIC", ingest.DefaultTopic, "topic of the SKU events (dead letters go to <topic>.dlq)",
		func(c *Config) *string { return &c.Ingest.Topic }, text, func(v string) error {
			if strings.ContainsAny(v, " /\\,") || len(v) > 200 {
				return fmt.Errorf("%q is not a topic name", v)
			}
			return nil
		}),
	bind("SELECTION_KAFKA_GROUP", ingest.DefaultGroup, "consumer group of the ingest consumers",
		func(c *Config) *string { return &c.Ingest.Group }, text, nil),
	bind("SELECTION_KAFKA_DATA_DIR", "/var/lib/selection/kafka", "data directory of the embedded broker: topics and committed offsets survive a restart",
		func(c *Config) *string { return &c.Ingest.DataDir }, text, nil),
	bind("SELECTION_KAFKA_PORT", "9092", "port of the embedded broker on 127.0.0.1 (simulate reaches it there)",
		func(c *Config) *int { return &c.Ingest.Port }, whole, between(1, 65535)),
	bind("SELECTION_KAFKA_PARTITIONS", strconv.Itoa(ingest.DefaultPartitions), "partitions of the topics ingest creates when they are missing (records are keyed by SKU id)",
		func(c *Config) *int { return &c.Ingest.Partitions }, whole, between(1, 1024)),
	bind("SELECTION_INGEST_POLL", "20000", "records per consumer poll; each partition's share is one database transaction",
		func(c *Config) *int { return &c.Ingest.Poll }, whole, between(1, 1000000)),
	bind("SELECTION_INGEST_MAX_SKEW", "5m", "how far in the future an event time may be before the event is a dead letter",
		func(c *Config) *time.Duration { return &c.Ingest.MaxSkew }, time.ParseDuration, positive[time.Duration]),
	bind("SELECTION_KAFKA_SESSION_TIMEOUT", "45s", "how long the consumer group waits for a member that stopped heartbeating (a killed replica) before its partitions move to the others; the broker bounds it (6s to 30m by default)",
		func(c *Config) *time.Duration { return &c.Ingest.SessionTimeout }, time.ParseDuration, positive[time.Duration]),
}

// Parsers of a variable's text.

func text(v string) (string, error) { return v, nil }

func whole(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errors.New("not a whole number")
	}
	return n, nil
}

// list is a comma-separated list, blanks dropped.
func list(v string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func rate(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1e6 {
		return 0, errors.New("want a number of requests per second, 0 to 1000000")
	}
	if f == 0 {
		return -1, nil // off
	}
	return f, nil
}

// offIfZero reads a variable whose 0 turns something off into the field's negative (its zero
// is the default); other negative values are refused.
func offIfZero[T int64 | time.Duration](parse func(string) (T, error)) func(string) (T, error) {
	return func(v string) (T, error) {
		x, err := parse(v)
		switch {
		case err != nil:
			return 0, err
		case x < 0:
			return 0, errors.New("must not be negative (0 turns it off)")
		case x == 0:
			return -1, nil
		}
		return x, nil
	}
}

// Checks of a field's value.

func oneOf(allowed ...string) func(string) error {
	return func(v string) error {
		if slices.Contains(allowed, v) {
			return nil
		}
		var show []string
		for _, a := range allowed {
			if a == "" {
				a = "empty"
			}
			show = append(show, a)
		}
		return fmt.Errorf("must be one of %s", strings.Join(show, ", "))
	}
}

// kernelCheck accepts auto and the kernel paths this build and CPU support (cpukernel.Resolve).
func kernelCheck(v string) error {
	if _, err := cpukernel.Resolve(v); err != nil {
		if errors.Is(err, cpukernel.ErrUnsupported) {
			return err
		}
		return oneOf(string(cpukernel.Auto), string(cpukernel.AVX512), string(cpukernel.AVX2), string(cpukernel.Portable))(v)
	}
	return nil
}

// share parses a share: a number from 0 to 1.
func share(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, fmt.Errorf("%q is not a share from 0 to 1", v)
	}
	return f, nil
}

func between(lo, hi int) func(int) error {
	return func(n int) error {
		if n < lo || n > hi {
			return fmt.Errorf("must be between %d and %d", lo, hi)
		}
		return nil
	}
}

func positive[T int | int64 | float64 | time.Duration](x T) error {
	if x <= 0 {
		return errors.New("must be positive")
	}
	return nil
}

func rateCheck(f float64) error {
	if f > 1e6 {
		return errors.New("at most 1000000 requests per second")
	}
	return nil
}

// parseBytes reads sizes such as 0, 512MiB, 8GiB, 1.5GB or a plain byte count.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := 1.0
	num := strings.TrimSpace(s)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			mult, num = u.mult, strings.TrimSpace(strings.TrimSuffix(num, u.suffix))
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || !(f >= 0) || f*mult > 1<<62 {
		return 0, fmt.Errorf("%q is not a size such as 0, 512MiB or 8GiB", s)
	}
	return int64(f * mult), nil
}
