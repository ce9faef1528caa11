package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	// Brokers are the seed brokers (an EmbeddedBroker's Addrs, or a real cluster). Required.
	Brokers []string
	// Topic is the event topic. Default: "sku-events".
	Topic string
	// Group is the consumer group. Default: "selection-ingest".
	Group string
	// DLQTopic receives records that cannot be decoded or fail validation. Default: Topic+".dlq".
	DLQTopic string
	// Partitions is the partition count of topics the consumer creates when they are missing
	// (existing topics are left alone). Default: 4.
	Partitions int32
	// Tier is recorded in sku_events for every event. Default: realtime.
	Tier Tier
	// MaxPollRecords bounds one poll, the records of all partitions together; each partition's
	// share is one transaction, applied by the partition's worker while the next poll is read.
	// Default: 20,000.
	MaxPollRecords int
	// MaxSkew is how far in the future an event time may be. Default: 5m.
	MaxSkew time.Duration
	// MaxRecordBytes bounds a record (key, value and headers). A larger record is not decoded:
	// it is dead-lettered by reference (its topic, partition, offset and size, and the first
	// DeadLetterPrefixBytes of its key and value). Default: DefaultMaxRecordBytes (256 KiB).
	MaxRecordBytes int
	// RetryMin and RetryMax bound the backoff of database retries and of dead-letter topic
	// retries. Defaults: 100ms, 5s.
	RetryMin, RetryMax time.Duration
	// DLQAttempts bounds the attempts at sending a batch's dead letters to DLQTopic; after the
	// last one they are kept in dead_letters only (logged, and counted in Metrics) and the
	// consumer goes on. Default: DefaultDLQAttempts (5).
	DLQAttempts int
	// DLQAttemptTimeout bounds one attempt at sending dead letters. Default: 10s.
	DLQAttemptTimeout time.Duration
	// Logger. Default: slog.Default().
	Logger *slog.Logger
	// Metrics, when set, counts events, dead letters, batches, lag and freshness.
	Metrics *Metrics
	// ClientOpts are extra franz-go options (TLS, SASL, ...).
	ClientOpts []kgo.Opt
	// OnCommit, when set, is called after each batch was committed to the database and its
	// offset to Kafka (the bench measures freshness with it), from the partition's worker. It
	// must be quick and safe for concurrent use.
	OnCommit func(CommitInfo)

	// beforeCommit, in tests, runs inside each database transaction before its commit.
	beforeCommit func(ctx context.Context) error
	// afterDBCommit, in tests, runs after the database commit and before the offset commit.
	afterDBCommit func(ctx context.Context) error
}

// CommitInfo describes one committed batch (one partition's records of one poll).
type CommitInfo struct {
	Applied     int
	Duplicates  int
	DeadLetters int
	CommittedAt time.Time
	// EventTimes are the event times of the applied events.
	EventTimes []time.Time
}

// WithDefaults fills zero fields with their defaults.
func (c ConsumerConfig) WithDefaults() ConsumerConfig {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.DLQTopic == "" {
		c.DLQTopic = c.Topic + DLQSuffix
	}
	if c.Partitions <= 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Tier == "" {
		c.Tier = TierRealtime
	}
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = 20000
	}
	if c.MaxSkew == 0 {
		c.MaxSkew = DefaultMaxSkew
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.DLQAttempts == 0 {
		c.DLQAttempts = DefaultDLQAttempts
	}
	if c.DLQAttemptTimeout == 0 {
		c.DLQAttemptTimeout = DefaultDLQAttemptTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c ConsumerConfig) validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("ingest: no Kafka brokers (start an EmbeddedBroker or configure SELECTION_KAFKA_BROKERS)")
	}
	if _, err := ParseTier(string(c.Tier)); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if c.DLQTopic == c.Topic {
		return errors.New("ingest: the dead-letter topic must differ from the event topic")
	}
	if c.MaxRecordBytes < 0 || c.DLQAttempts < 0 || c.DLQAttemptTimeout < 0 {
		return errors.New("ingest: MaxRecordBytes, DLQAttempts and DLQAttemptTimeout must not be negative")
	}
	return nil
}

// Consumer reads events from a Kafka topic as a member of a consumer group and applies them
// with one Postgres transaction per partition per poll, committing the offsets only after the
// database commit (at-least-once delivery plus an idempotent apply: each event takes effect
// exactly once). Records that cannot be decoded or fail validation go to dead_letters, in the
// same transaction as the good ones, and to the dead-letter topic (reason in the headers);
// records over MaxRecordBytes go there by reference. A dead-letter topic that refuses them is
// retried a bounded number of times and then left behind: it never stops the consumer.
type Consumer struct {
	pool   *pgxpool.Pool
	cfg    ConsumerConfig
	writer *Writer

	mu      sync.Mutex
	client  *kgo.Client
	cancel  context.CancelFunc
	done    chan struct{}
	err     error
	stopped bool
	workers map[topicPartition]*partWorker
	failRun context.CancelCauseFunc
	// dlqDown is set while the dead-letter topic refuses dead letters (see finishDLQ).
	dlqDown atomic.Bool
}

// NewConsumer returns a consumer over pool; Start connects it.
func NewConsumer(pool *pgxpool.Pool, cfg ConsumerConfig) (*Consumer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w, err := NewWriter(pool, WriterConfig{RetryMin: cfg.RetryMin, RetryMax: cfg.RetryMax, Logger: cfg.Logger,
		Metrics: cfg.Metrics, MetricsSource: "kafka", beforeCommit: cfg.beforeCommit})
	if err != nil {
		return nil, err
	}
	return &Consumer{pool: pool, cfg: cfg, writer: w}, nil
}

// Start joins the group (creating the topics when missing) and consumes in the background
// until Stop. It is idempotent; a stopped consumer cannot start again.
func (c *Consumer) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return nil
	}
	if c.stopped {
		return errors.New("ingest: consumer was stopped")
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeTopics(c.cfg.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { c.stopWorkers(lost) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { c.stopWorkers(lost) }),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(250 * time.Millisecond),
		kgo.FetchMaxBytes(64 << 20),
		kgo.FetchMaxPartitionBytes(1 << 20),
		kgo.ProducerLinger(0),
		// The client produces only dead letters; an attempt at sending them must end within
		// DLQAttemptTimeout even while a request is in flight. The price is a rare duplicate on
		// the dead-letter topic, which a redelivered batch can cause anyway.
		kgo.AllowIdempotentProduceCancellation(),
	}, c.cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("ingest: kafka client: %w", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = EnsureTopics(tctx, cl, c.cfg.Partitions, c.cfg.Topic, c.cfg.DLQTopic)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			cl.Close()
			return ctx.Err()
		}
		c.cfg.Logger.Warn("ingest: could not make sure the topics exist; consuming anyway", "err", err)
	}
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	c.client, c.cancel, c.done = cl, cancelRun, make(chan struct{})
	go func() {
		defer close(c.done)
		err := c.run(runCtx, cl)
		if err != nil && runCtx.Err() == nil {
			c.cfg.Logger.Error("ingest: consumer stopped", "err", err)
		}
		c.mu.Lock()
		if runCtx.Err() == nil {
			c.err = err
		}
		c.mu.Unlock()
	}()
	return nil
}

// Done is closed when the consumer has stopped (after Stop, or a failure that retrying cannot
// mend; Err says which). It is nil before Start.
func (c *Consumer) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// Pause stops fetching new records from the event topic (the batches in flight are still
// applied and committed); Resume fetches again. Both do nothing before Start or after Stop.
// `selection bench ingest` pauses a warm consumer while it produces its backlog.
func (c *Consumer) Pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		c.client.PauseFetchTopics(c.cfg.Topic)
	}
}

// Resume fetches again after Pause.
func (c *Consumer) Resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		c.client.ResumeFetchTopics(c.cfg.Topic)
	}
}

// Err is the failure that stopped the consumer, if any.
func (c *Consumer) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Stop stops consuming: a batch in flight is abandoned (it is redelivered to the next member),
// unless its statements have all run, in which case its database commit finishes so that it is
// counted where it was applied (its offset is not committed: the next member skips it as
// duplicates); the client leaves the group and closes. It waits for that or for ctx, and is
// idempotent.
func (c *Consumer) Stop(ctx context.Context) error {
	c.mu.Lock()
	c.stopped = true
	cl, cancel, done := c.client, c.cancel, c.done
	c.mu.Unlock()
	if cl == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("ingest: stopping the consumer: %w", ctx.Err())
	}
	cl.Close() // idempotent; leaves the group
	return c.Err()
}

// Run starts the consumer and blocks until ctx ends or it fails, then stops it.
func (c *Consumer) Run(ctx context.Context) error {
	if err := c.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-c.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return c.Stop(sctx)
}

// partWorker applies one partition's batches in order, each in a transaction of its own, and
// commits the partition's offsets after each database commit. The poll loop hands it at most one
// batch ahead (in has room for one), so a busy partition slows the poll loop down rather than
// piling records up in memory.
type partWorker struct {
	topic     string
	partition int32
	in        chan []*kgo.Record
	quit      chan struct{}
	done      chan struct{}
}

func (c *Consumer) run(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.mu.Lock()
	c.failRun = cancel
	c.mu.Unlock()
	defer c.stopWorkers(nil) // every worker, before the client closes
	behind := false
	for {
		fetches := cl.PollRecords(ctx, c.cfg.MaxPollRecords)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			cl.AllowRebalance()
			if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
				return err // a worker failed
			}
			return ctx.Err()
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				c.cfg.Logger.Warn("ingest: fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		var lag int64
		fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
			if len(ftp.Records) == 0 {
				return
			}
			last := ftp.Records[len(ftp.Records)-1]
			lag += max(0, ftp.HighWatermark-last.Offset-1)
			w := c.worker(ctx, cl, ftp.Topic, ftp.Partition)
			select {
			case w.in <- ftp.Records:
			case <-w.quit: // revoked meanwhile: the records go to the partition's next owner
			case <-ctx.Done():
			}
		})
		if c.cfg.Metrics != nil {
			c.cfg.Metrics.Lag.WithLabelValues(c.cfg.Topic).Set(float64(lag))
		}
		if !behind && lag > int64(c.cfg.MaxPollRecords) {
			// One line for a backlog (a restart after downtime, a bulk load upstream): the
			// service is ready meanwhile; selection_ingest_lag_records shows the rest.
			behind = true
			c.cfg.Logger.Info("ingest: behind the topic; catching up", "topic", c.cfg.Topic, "records", lag)
		}
		cl.AllowRebalance()
	}
}

// worker returns the partition's worker, starting it if needed.
func (c *Consumer) worker(ctx context.Context, cl *kgo.Client, topic string, partition int32) *partWorker {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := topicPartition{topic, partition}
	if w, ok := c.workers[key]; ok {
		return w
	}
	w := &partWorker{topic: topic, partition: partition, in: make(chan []*kgo.Record, 1),
		quit: make(chan struct{}), done: make(chan struct{})}
	if c.workers == nil {
		c.workers = map[topicPartition]*partWorker{}
	}
	c.workers[key] = w
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.quit:
				return
			case <-ctx.Done():
				return
			case recs := <-w.in:
				if err := c.processBatch(ctx, cl, recs); err != nil {
					if ctx.Err() == nil {
						c.mu.Lock()
						fail := c.failRun
						c.mu.Unlock()
						fail(err) // a failure retrying cannot mend stops the consumer
					}
					return
				}
			}
		}
	}()
	return w
}

type topicPartition struct {
	topic     string
	partition int32
}

// stopWorkers stops the workers of the given partitions (nil: all) after their batch in flight,
// which commits; a batch waiting behind it is left to the partition's next owner. The group
// calls it when partitions are revoked or lost.
func (c *Consumer) stopWorkers(parts map[string][]int32) {
	c.mu.Lock()
	var stop []*partWorker
	for key, w := range c.workers {
		if parts == nil || containsPartition(parts[key.topic], key.partition) {
			stop = append(stop, w)
			delete(c.workers, key)
		}
	}
	c.mu.Unlock()
	for _, w := range stop {
		close(w.quit)
	}
	for _, w := range stop {
		<-w.done
	}
}

func containsPartition(ps []int32, p int32) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

// processBatch applies one partition's records in one transaction, sends its rejects to the
// dead-letter topic, and commits the partition's offset after the database commit.
func (c *Consumer) processBatch(ctx context.Context, cl *kgo.Client, records []*kgo.Record) error {
	now := time.Now()
	recs := make([]Record, len(records))
	var dead []*dlqSend
	undecoded := make([]bool, len(records)) // the record did not decode (its dead letter is in dead)
	for i, kr := range records {
		r := &recs[i]
		r.Source = "kafka:" + kr.Topic + "/" + strconv.Itoa(int(kr.Partition)) + "/" + strconv.FormatInt(kr.Offset, 10)
		r.Topic, r.Partition, r.Offset = kr.Topic, kr.Partition, kr.Offset
		// The bytes as received, for a dead letter: a record that decodes may still be refused
		// by the database (Writer's record-by-record path), and its dead letter keeps them.
		r.Key, r.Value = kr.Key, kr.Value
		d, err := decodeRecord(kr, c.cfg.MaxRecordBytes, DecodeOptions{Now: now, MaxSkew: c.cfg.MaxSkew})
		if err != nil {
			s := newDLQSend(kr, err)
			r.Err = err
			if s.byRef {
				r.Key, r.Value = prefix(kr.Key), prefix(kr.Value)
			}
			dead = append(dead, s)
			undecoded[i] = true
			continue
		}
		r.Event = d
	}

	// The dead letters go to the DLQ topic while the batch is written; the batch's transaction
	// records them in dead_letters, so a DLQ topic that refuses them after finishDLQ's retries
	// does not hold the offset back.
	wait := func() {}
	if len(dead) > 0 {
		wait = c.produceDLQ(ctx, cl, dead)
	}
	res, err := c.writer.Write(ctx, c.cfg.Tier, recs)
	if err != nil {
		wait()
		return err
	}
	if len(dead) > 0 {
		if err := c.finishDLQ(ctx, cl, dead, wait); err != nil {
			return err
		}
	}
	// Records that decoded but that the database refused (a poison record: the Writer applied
	// the batch record by record and made them dead letters in dead_letters) go to the
	// dead-letter topic too, now that the transaction that recorded them is committed.
	var refused []*dlqSend
	for i := range recs {
		if recs[i].Err != nil && !undecoded[i] {
			refused = append(refused, newDLQSend(records[i], recs[i].Err))
		}
	}
	if len(refused) > 0 {
		if err := c.finishDLQ(ctx, cl, refused, c.produceDLQ(ctx, cl, refused)); err != nil {
			return err
		}
	}
	if c.cfg.Metrics != nil {
		for _, i := range res.Applied {
			c.cfg.Metrics.Freshness.Observe(res.CommittedAt.Sub(recs[i].Event.EventTime).Seconds())
		}
	}
	if c.cfg.afterDBCommit != nil {
		if err := c.cfg.afterDBCommit(ctx); err != nil {
			return err
		}
	}
	if err := cl.CommitRecords(ctx, records[len(records)-1]); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The database has the events; a redelivery after this is a no-op.
		c.cfg.Logger.Warn("ingest: offset commit failed; the records will be redelivered and skipped", "err", err)
	}
	if c.cfg.OnCommit != nil {
		info := CommitInfo{Applied: len(res.Applied), Duplicates: res.Duplicates, DeadLetters: res.DeadLetters,
			CommittedAt: res.CommittedAt, EventTimes: make([]time.Time, len(res.Applied))}
		for j, i := range res.Applied {
			info.EventTimes[j] = recs[i].Event.EventTime
		}
		c.cfg.OnCommit(info)
	}
	return nil
}
