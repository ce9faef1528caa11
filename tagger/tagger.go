package tagger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/filter"
	"selection/internal/pg"
	"selection/internal/poll"
	"selection/vectorindex"
)

// Vectors is what auto-tagging needs of the vector index (vectorindex.Index implements it):
// the stored vector of an ordinal and a filtered k-nearest-neighbour search (cosine).
type Vectors interface {
	Vector(ordinal int64) ([]float32, bool)
	Search(ctx context.Context, query []float32, k int, filter *roaring64.Bitmap) ([]vectorindex.Hit, error)
}

// QueryEmbedder embeds plain-language descriptions (embed.Embedder implements it).
type QueryEmbedder interface {
	EmbedQuery(ctx context.Context, text string) ([]float32, error)
	Name() string
}

// Config tunes a Tagger. Zero fields take the defaults stated on each.
type Config struct {
	// PollInterval is how often sku_events and sku_vectors are read for changes. Default 200ms:
	// a committed change shows in the index within about one interval plus the apply (the
	// issue asks for 1 s).
	PollInterval time.Duration
	// SaveInterval is how often the index is saved to tag_bitmaps when it changed. Default 5m;
	// negative: never (rebuild and explicit Save still write). A restart replays the events
	// since the last save, so this bounds the replay to ~5 minutes of events.
	SaveInterval time.Duration
	// LoadVoteBudget is how long a load may spend typing SKUs by their neighbours' vote before
	// it returns and leaves the rest to the polls. Default 30s; negative: no limit (the evals,
	// whose figures must not depend on the machine's speed).
	LoadVoteBudget time.Duration
	// PollVoteBudget bounds the time one poll spends voting on untyped SKUs' types, so that a
	// backlog (a bulk load of SKUs whose text names no type) is worked off in the background
	// without taking a core from the service: 20 ms of every 200 ms poll is a tenth of one core.
	// Default 20ms; negative: no limit but NeighbourBatch SKUs a poll.
	PollVoteBudget time.Duration
	// VoteSample bounds the SKUs that vote on an untyped SKU's type: above it, the voters are
	// a fixed, evenly spread sample of this many SKUs of strong types, so a vote costs a
	// search over the sample, not over the catalogue (at 1M SKUs a vote over every typed SKU
	// took a whole core while the polls caught up). Default 65,536; negative: every voter.
	VoteSample int
	// MaxReplay is how many changed SKUs a start-up catch-up may replay from a saved snapshot
	// before it rebuilds from skus instead. Default 200,000 (replaying re-reads each row; a
	// full build reads ~1M rows/s).
	MaxReplay int
	// SnapshotMaxAge, when > 0, is the age past which a saved snapshot is not loaded (the
	// index is built from skus instead): the events after it may be pruned by then
	// (ingest.EventRetention; serve sets it to SELECTION_EVENTS_KEEP_FOR). Default 0: any age.
	SnapshotMaxAge time.Duration
	// Referrers, when set, lists what outside the tagger refers to a tag by name (the service
	// passes its pools), reading through q: Delete calls it in the transaction that holds the
	// tag's row lock, and refuses the tag while it lists anything.
	Referrers func(ctx context.Context, q Querier, tag string) ([]string, error)
	// Leader reports whether this replica votes on the product types of SKUs whose text names
	// none, and stores the votes for the other replicas (sku_types); the others apply them.
	// The service passes its lease's Held. Default nil: this tagger votes (one process).
	Leader func() bool
	// JournalFor, above 0, is how long the index keeps the rows its writes replaced
	// (filter.Index's journal), so that StatesSince can tell what a SKU held since a position:
	// the pool refresher skips a SKU that passed a pool's filter all along. It costs about 280
	// bytes a written row for that long (84 MB for 5 minutes at 1,000 events/s). Default 0:
	// off (at 1M SKUs it saved 5% of the runs for admitted SKUs).
	JournalFor time.Duration
	// Logger receives the tagger's logs. Default: slog.Default().
	Logger *slog.Logger
}

// WithDefaults fills zero fields with their defaults.
func (c Config) WithDefaults() Config {
	if c.PollInterval == 0 {
		c.PollInterval = 200 * time.Millisecond
	}
	if c.SaveInterval == 0 {
		c.SaveInterval = 5 * time.Minute
	}
	if c.MaxReplay == 0 {
		c.MaxReplay = 200_000
	}
	if c.LoadVoteBudget == 0 {
		c.LoadVoteBudget = LoadVoteBudget
	}
	if c.PollVoteBudget == 0 {
		c.PollVoteBudget = 20 * time.Millisecond
	}
	if c.VoteSample == 0 {
		c.VoteSample = 1 << 16
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	if c.PollInterval < 10*time.Millisecond {
		return fmt.Errorf("tagger: poll interval %v below 10ms", c.PollInterval)
	}
	if c.MaxReplay < 0 {
		return errors.New("tagger: negative MaxReplay")
	}
	return nil
}

// Tagger keeps an Index loaded and fresh: it loads the saved snapshot (or builds from skus),
// tails sku_events and sku_vectors, re-tags changed SKUs, and saves the index now and then.
type Tagger struct {
	cfg      Config
	store    *Store
	snaps    *filter.Store // the saved index
	ix       *filter.Index
	vectors  Vectors
	embedder QueryEmbedder

	mu      sync.Mutex // serialises polls, rebuilds and saves (the writer side)
	pos     filter.Position
	vecTail *pg.Tail // where the next poll of sku_vectors reads from
	// What Position and VectorsFrom report, published without t.mu (held through whole polls,
	// saves and tag builds) so that readers (the pool refresher, once per pool) never wait.
	pubPos atomic.Pointer[filter.Position]
	// gens maps the latest positions' snapshots to the index's generation then (StatesSince).
	gensMu     sync.Mutex
	gens       []snapGen
	pubVecFrom atomic.Int64 // vecTail.From() in Unix nanoseconds (0: no tail yet)
	dirty      bool
	pubCents   atomic.Pointer[centroidSet] // the type centroids: the vote uses them, TypeCentroids hands them out without t.mu
	loaded     bool
	models     map[int64]Model
	tagsSig    tagsSignature // the tags table as the index last matched it
	lastSync   time.Time
	// lastModelCheck: when the poll last looked for a newer product-type model.
	lastModelCheck time.Time
	leftOut        int           // tags of the table the last sync could not build
	retryAt        time.Time     // when to try them again
	retryEvery     time.Duration // the current back-off

	runMu sync.Mutex // serialises Start and Stop
	loop  poll.Loop
}

// New returns a Tagger over pool. vectors and embedder may be nil: then prototype, propagated
// and discovered tags are not (re)computed, and their saved members are kept as they are.
func New(pool *pgxpool.Pool, vectors Vectors, embedder QueryEmbedder, cfg Config) (*Tagger, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ix := filter.NewIndex()
	ix.KeepJournal(max(cfg.JournalFor, 0))
	return &Tagger{cfg: cfg, store: NewStore(pool), snaps: filter.NewStore(pool), ix: ix, vectors: vectors, embedder: embedder,
		loop: poll.Loop{Name: "tagger: poll", Every: cfg.PollInterval, Retry: cfg.PollInterval, MaxRetry: poll.TailRetryMax, Logger: cfg.Logger}}, nil
}

// Index is the live index; it stays the same object across reloads.
func (t *Tagger) Index() *filter.Index { return t.ix }

// Store is the tagger's store.
func (t *Tagger) Store() *Store { return t.store }

// Position is where the index stands in sku_events: every event of a transaction visible in
// its snapshot is applied (zero before the first load).
func (t *Tagger) Position() filter.Position {
	if p := t.pubPos.Load(); p != nil {
		return *p
	}
	return filter.Position{}
}

// setPosLocked moves the index's position (after what it covers was applied).
func (t *Tagger) setPosLocked(p filter.Position) {
	if p.Snapshot != "" {
		g := t.ix.Generation()
		t.gensMu.Lock()
		if n := len(t.gens); n == 0 || t.gens[n-1].snapshot != p.Snapshot || t.gens[n-1].gen.Epoch != g.Epoch {
			if n == maxGens {
				t.gens = append(t.gens[:0], t.gens[n/2:]...)
			}
			t.gens = append(t.gens, snapGen{p.Snapshot, g})
		}
		t.gensMu.Unlock()
	}
	t.pos = p
	t.pubPos.Store(&p)
}

// snapGen is a position's snapshot and the index's generation once it was applied.
type snapGen struct {
	snapshot string
	gen      filter.Generation
}

// maxGens bounds the positions GenerationAt knows: the latest 1,500 to 3,000, 5 to 10 minutes
// of polls at the default 200 ms interval when every poll finds changes.
const maxGens = 3000

// GenerationAt is the index's generation when the tagger took the position whose event
// snapshot is snapshot (in the index's current contents): every state the
// index held since is in its journal (StatesSince). ok is false when the position is not one
// of the latest the tagger took.
func (t *Tagger) GenerationAt(snapshot string) (filter.Generation, bool) {
	epoch := t.ix.Generation().Epoch
	t.gensMu.Lock()
	defer t.gensMu.Unlock()
	for i := len(t.gens) - 1; i >= 0; i-- {
		// setPosLocked records a snapshot once per epoch (positions only move forward), at
		// the first generation that reached it.
		if g := t.gens[i]; g.snapshot == snapshot && g.gen.Epoch == epoch {
			return g.gen, true
		}
	}
	return filter.Generation{}, false
}

// StatesSince returns, for each ordinal of set, every row the index held for it since
// generation g (filter.Index.StatesSince): the rows replaced since, oldest first, then the
// current one. ok is false when the journal no longer reaches back to g.
func (t *Tagger) StatesSince(g filter.Generation, set *roaring64.Bitmap) (map[int64][]filter.Row, bool) {
	return t.ix.StatesSince(g, set)
}

// ReleaseStates says no reader will ask StatesSince for a generation before g: the journal
// forgets the rows replaced before it (filter.Index.ReleaseJournal).
func (t *Tagger) ReleaseStates(g filter.Generation) { t.ix.ReleaseJournal(g) }

// VectorsFrom is where the next poll of sku_vectors reads from: every vector stamped before it
// is reflected in the vector tags. Zero when the tagger follows no vectors: it has none, or no
// tag built from them (a tag defined later is built from the vector index's vectors).
func (t *Tagger) VectorsFrom() time.Time {
	if t.vectors == nil || !t.hasVectorTags() {
		return time.Time{}
	}
	return time.Unix(0, t.pubVecFrom.Load()) // the epoch while there is no tail: every vector is new
}

// publishVecTailLocked publishes vecTail.From() for VectorsFrom.
func (t *Tagger) publishVecTailLocked() {
	if t.vecTail != nil {
		t.pubVecFrom.Store(t.vecTail.From().UnixNano())
	}
}

// Load fills the index: from the saved snapshot when there is one and the events since are
// few, else from skus (plus the saved tag members); then it catches up with sku_events. It
// reports which way it went ("snapshot" or "skus").
func (t *Tagger) Load(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.loadLocked(ctx)
}

func (t *Tagger) loadLocked(ctx context.Context) (string, error) {
	if _, _, err := t.store.LoadTypes(ctx); err != nil {
		return "", err
	}
	return t.loadIndexLocked(ctx)
}

// loadIndexLocked is loadLocked after the product-type model and its votes are loaded.
func (t *Tagger) loadIndexLocked(ctx context.Context) (string, error) {
	how := "snapshot"
	t.store.types.mu.Lock()
	t.store.types.pending, t.store.types.weak = nil, nil
	t.store.types.mu.Unlock()
	t.pubCents.Store(nil) // computed again from what this load finds
	ix, pos, err := t.snaps.LoadSnapshot(ctx)
	if err == nil {
		err = t.store.snapshotModel(ctx)
	}
	if err == nil {
		var pending int
		if err := t.store.pool.QueryRow(ctx, `SELECT count(DISTINCT sku_id) FROM sku_events
			WHERE xid >= pg_snapshot_xmin($1::pg_snapshot) AND NOT pg_visible_in_snapshot(xid, $1::pg_snapshot)`,
			pos.Snapshot).Scan(&pending); err != nil {
			return "", fmt.Errorf("tagger: count pending events: %w", err)
		}
		if pending > t.cfg.MaxReplay {
			err = fmt.Errorf("%d SKUs changed since the snapshot", pending)
		}
		if age := time.Since(pos.Saved); t.cfg.SnapshotMaxAge > 0 && age > t.cfg.SnapshotMaxAge {
			err = fmt.Errorf("the snapshot was saved %s ago, longer than events are kept (%s)", age.Round(time.Second), t.cfg.SnapshotMaxAge)
		}
	}
	if err != nil {
		if !errors.Is(err, filter.ErrNotFound) {
			t.cfg.Logger.Info("tagger: building from skus instead of the snapshot", "reason", err)
		}
		how = "skus"
		ix, pos, err = t.store.BuildFromSKUs(ctx)
		if err != nil {
			return "", err
		}
		// Tags are not in skus: the sync below adds them (saved members, rules evaluated).
		t.dirty = true // the saved snapshot is missing, stale or older: the next save replaces it
	}
	t.ix.Replace(ix)
	t.setPosLocked(pos)
	t.loaded = true
	models, err := t.store.Models(ctx)
	if err != nil {
		return "", err
	}
	t.models = models
	// The tags: all of them after a build from skus; after a snapshot, those defined elsewhere
	// since it was saved (or deleted since).
	t.tagsSig = tagsSignature{}
	if _, err := t.syncTagsLocked(ctx); err != nil {
		return "", err
	}
	t.lastSync = time.Now()
	if err := t.vecMarkInit(ctx); err != nil {
		return "", err
	}
	for {
		n, err := t.pollLocked(ctx)
		if err != nil {
			return "", err
		}
		if n == 0 {
			break
		}
	}
	budget := t.cfg.LoadVoteBudget
	if budget < 0 {
		budget = time.Duration(math.MaxInt64)
	}
	// The votes stored since the snapshot was saved (a build from skus applied them already).
	if _, err := t.applyAllVotesLocked(ctx); err != nil {
		return "", err
	}
	if _, err := t.fillAllTypesLocked(ctx, budget); err != nil {
		return "", err
	}
	t.lastModelCheck = time.Now()
	return how, nil
}

// Poll applies the changes committed since the last poll (events and new vectors) and reports
// how many SKUs it re-read.
func (t *Tagger) Poll(ctx context.Context) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.loaded {
		return 0, errors.New("tagger: not loaded")
	}
	if time.Since(t.lastModelCheck) >= modelCheckInterval {
		t.lastModelCheck = time.Now()
		if _, err := t.checkModelLocked(ctx); err != nil {
			return 0, err
		}
	}
	if time.Since(t.lastSync) >= tagSyncInterval {
		t.lastSync = time.Now()
		if _, err := t.syncTagsLocked(ctx); err != nil {
			return 0, err
		}
	}
	n, err := t.pollLocked(ctx)
	if err != nil {
		return n, err
	}
	if _, err := t.fillTypesLocked(ctx); err != nil {
		return n, err
	}
	if _, err := t.followVotesLocked(ctx); err != nil { // the leader's votes (on the leader: none new)
		return n, err
	}
	if _, err := t.pollVectorsLocked(ctx); err != nil {
		return n, err
	}
	return n, nil
}

// pollLocked reads, in one repeatable-read snapshot S, the events of the transactions that
// were not yet visible in the previous snapshot P (xid >= xmin(P) and not visible in P),
// re-reads those SKUs' rows in S, applies them and remembers S. Every event is read exactly
// once, whatever the order in which transactions took seqs and committed, and a long
// transaction elsewhere holds back only its own events.
func (t *Tagger) pollLocked(ctx context.Context) (int, error) {
	var rows []filter.Row
	var next filter.Position
	err := pgx.BeginTxFunc(ctx, t.store.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, currentSnapshot).Scan(&next.Snapshot); err != nil {
			return err
		}
		next.Seq = t.pos.Seq
		if next.Snapshot == t.pos.Snapshot {
			return nil
		}
		var ids []int64
		var maxSeq *int64
		err := tx.QueryRow(ctx, `SELECT array_agg(DISTINCT sku_id), max(seq) FROM sku_events
			WHERE xid >= pg_snapshot_xmin($1::pg_snapshot) AND NOT pg_visible_in_snapshot(xid, $1::pg_snapshot)`,
			t.pos.Snapshot).Scan(&ids, &maxSeq)
		if err != nil {
			return err
		}
		if maxSeq != nil && *maxSeq > next.Seq {
			next.Seq = *maxSeq
		}
		if len(ids) == 0 {
			return nil
		}
		rows, err = t.store.Rows(ctx, tx, ids)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("tagger: read changes: %w", err)
	}
	if len(rows) > 0 {
		if err := t.applyRowsLocked(ctx, rows); err != nil {
			return len(rows), err
		}
	}
	t.setPosLocked(next)
	return len(rows), nil
}

// applyRowsLocked writes re-read rows into the index and decides the rule and vector tags of
// those SKUs again.
func (t *Tagger) applyRowsLocked(ctx context.Context, rows []filter.Row) error {
	t.ix.Upsert(rows)
	t.dirty = true
	changed := roaring64.New()
	for i := range rows {
		changed.Add(uint64(rows[i].Ordinal))
	}
	if err := t.retagRules(ctx, changed); err != nil {
		return err
	}
	return t.retagVectorsOf(ctx, changed)
}

// Start loads the index if needed and polls every PollInterval until Stop; it saves the index
// every SaveInterval when it changed. It is idempotent.
func (t *Tagger) Start(ctx context.Context) error {
	t.runMu.Lock()
	defer t.runMu.Unlock()
	if t.loop.Running() {
		return nil
	}
	t.mu.Lock()
	loaded := t.loaded
	t.mu.Unlock()
	if !loaded {
		if _, err := t.Load(ctx); err != nil {
			return err
		}
	}
	lastSave := time.Now()
	t.loop.Start(context.WithoutCancel(ctx), func(ctx context.Context) error {
		_, err := t.Poll(ctx)
		if t.cfg.SaveInterval > 0 && time.Since(lastSave) >= t.cfg.SaveInterval {
			lastSave = time.Now()
			if _, serr := t.Save(ctx); serr != nil {
				err = errors.Join(err, fmt.Errorf("save: %w", serr))
			}
		}
		return err
	})
	return nil
}

// Stop ends the poll loop and waits for it (or for ctx). It is idempotent.
func (t *Tagger) Stop(ctx context.Context) error {
	t.runMu.Lock()
	defer t.runMu.Unlock()
	return t.loop.Stop(ctx)
}

// Save writes the index to tag_bitmaps when it changed since the last save (or force).
func (t *Tagger) Save(ctx context.Context) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.saveLocked(ctx, false)
}

func (t *Tagger) saveLocked(ctx context.Context, force bool) (bool, error) {
	if !t.dirty && !force {
		return false, nil
	}
	snap, err := t.ix.Snapshot()
	if err != nil {
		return false, err
	}
	snap.Pos = t.pos
	wrote, err := t.snaps.SaveSnapshot(ctx, snap)
	if err != nil {
		return false, err
	}
	if wrote {
		if err := t.store.markSnapshotModel(ctx); err != nil {
			return true, err
		}
	}
	t.dirty = false
	return wrote, nil
}
