package ingest

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what ingest does. Every method is safe on a nil *Metrics (it then counts
// nothing). Register adds the Prometheus collectors to a registry; Snapshot reads the totals.
type Metrics struct {
	EventsApplied *prometheus.CounterVec // new events written and applied, by kind and tier
	Duplicates    prometheus.Counter     // events whose id was already in sku_events (no-ops)
	DeadLetters   *prometheus.CounterVec // rejected records, by source ("kafka" or "file")
	Batches       prometheus.Counter     // committed transactions
	Retries       prometheus.Counter     // database attempts that failed and were retried
	LastCommit    prometheus.Gauge       // unix time of the newest commit
	Lag           *prometheus.GaugeVec   // records behind the partition's end, by topic
	Freshness     prometheus.Histogram   // seconds from event time to database commit (Kafka)
	// DLQFailures counts dead letters the dead-letter topic refused after every attempt: they
	// are in dead_letters only.
	DLQFailures prometheus.Counter

	applied, duplicates, deadLetters, batches, retries, dlqFailures, lastCommitNanos atomic.Int64
}

// FreshnessBuckets are the freshness histogram's upper bounds in seconds: the real-time tier
// aims at under one second, hourly and daily data land in the top buckets.
var FreshnessBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400}

// NewMetrics returns unregistered metrics named selection_ingest_*.
func NewMetrics() *Metrics {
	return &Metrics{
		EventsApplied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "selection_ingest_events_applied_total",
			Help: "Events newly written to sku_events and applied to skus.",
		}, []string{"kind", "tier"}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "selection_ingest_duplicate_events_total",
			Help: "Events whose id was already recorded (redeliveries): no-ops.",
		}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "selection_ingest_dead_letters_total",
			Help: "Records that could not be decoded or failed validation.",
		}, []string{"source"}),
		Batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "selection_ingest_batches_total",
			Help: "Committed ingest transactions.",
		}),
		Retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "selection_ingest_retries_total",
			Help: "Failed database attempts that were retried with backoff.",
		}),
		LastCommit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "selection_ingest_last_commit_timestamp_seconds",
			Help: "Unix time of the newest ingest commit.",
		}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "selection_ingest_lag_records",
			Help: "Records between the consumer's position and the end of its partitions.",
		}, []string{"topic"}),
		Freshness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "selection_ingest_freshness_seconds",
			Help:    "Time from an event's event_time to the commit that applied it (Kafka).",
			Buckets: FreshnessBuckets,
		}),
		DLQFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "selection_ingest_dlq_failures_total",
			Help: "Dead letters the dead-letter topic refused after every attempt (kept in dead_letters only).",
		}),
	}
}

// Collectors lists the Prometheus collectors.
func (m *Metrics) Collectors() []prometheus.Collector {
	if m == nil {
		return nil
	}
	return []prometheus.Collector{m.EventsApplied, m.Duplicates, m.DeadLetters, m.Batches, m.Retries,
		m.LastCommit, m.Lag, m.Freshness, m.DLQFailures}
}

// Register adds the collectors to r.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range m.Collectors() {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	return nil
}

// MetricsSnapshot are the totals since the process started.
type MetricsSnapshot struct {
	Applied, Duplicates, DeadLetters, Batches, Retries int64
	DLQFailures                                        int64
	LastCommit                                         time.Time
}

// Snapshot returns the totals.
func (m *Metrics) Snapshot() MetricsSnapshot {
	if m == nil {
		return MetricsSnapshot{}
	}
	s := MetricsSnapshot{Applied: m.applied.Load(), Duplicates: m.duplicates.Load(),
		DeadLetters: m.deadLetters.Load(), Batches: m.batches.Load(), Retries: m.retries.Load(),
		DLQFailures: m.dlqFailures.Load()}
	if n := m.lastCommitNanos.Load(); n != 0 {
		s.LastCommit = time.Unix(0, n)
	}
	return s
}

// committed records one committed batch.
func (m *Metrics) committed(tier Tier, recs []Record, res *BatchResult, source string) {
	if m == nil {
		return
	}
	kinds := make(map[Kind]int, len(Kinds))
	for _, i := range res.Applied {
		kinds[recs[i].Event.Kind]++
	}
	for kind, n := range kinds {
		m.EventsApplied.WithLabelValues(string(kind), string(tier)).Add(float64(n))
	}
	m.applied.Add(int64(len(res.Applied)))
	m.Duplicates.Add(float64(res.Duplicates))
	m.duplicates.Add(int64(res.Duplicates))
	if res.DeadLetters > 0 {
		m.DeadLetters.WithLabelValues(source).Add(float64(res.DeadLetters))
		m.deadLetters.Add(int64(res.DeadLetters))
	}
	m.Batches.Inc()
	m.batches.Add(1)
	m.LastCommit.Set(float64(res.CommittedAt.UnixNano()) / 1e9)
	m.lastCommitNanos.Store(res.CommittedAt.UnixNano())
}

func (m *Metrics) dlqFailed(n int) {
	if m == nil {
		return
	}
	m.DLQFailures.Add(float64(n))
	m.dlqFailures.Add(int64(n))
}

func (m *Metrics) retried() {
	if m == nil {
		return
	}
	m.Retries.Inc()
	m.retries.Add(1)
}
