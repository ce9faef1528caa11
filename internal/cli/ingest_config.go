package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/term"

	"selection/ingest"
)

// kafkaBrokers returns the configured brokers, or the embedded broker's address on this host
// (for commands that talk to the broker of a running serve, demo or ingest).
func kafkaBrokers(c IngestConfig) []string {
	if len(c.Brokers) > 0 {
		return c.Brokers
	}
	return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port))}
}

// ingestRunner is a running ingest: the embedded broker (when no brokers are configured) and
// the consumer. serve and demo start one with startIngest.
type ingestRunner struct {
	Broker   *ingest.EmbeddedBroker // nil with configured brokers
	Brokers  []string
	Consumer *ingest.Consumer
	Metrics  *ingest.Metrics
}

// startIngest starts the embedded broker when no brokers are configured, then the consumer of
// the configured topic. Stop it with (*ingestRunner).Stop.
func startIngest(ctx context.Context, env *Env, pool *pgxpool.Pool, metrics *ingest.Metrics) (*ingestRunner, error) {
	cfg := env.Config.Ingest
	r := &ingestRunner{Metrics: metrics, Brokers: cfg.Brokers}
	if len(r.Brokers) == 0 {
		b, err := ingest.StartEmbeddedBroker(ctx, cfg.DataDir, cfg.Port)
		if err != nil {
			return nil, fmt.Errorf("%w (set SELECTION_KAFKA_BROKERS to use a Kafka cluster, or SELECTION_KAFKA_DATA_DIR / SELECTION_KAFKA_PORT)", err)
		}
		r.Broker, r.Brokers = b, b.Addrs()
		env.Log.Info("embedded Kafka broker started", "addr", strings.Join(r.Brokers, ","), "data_dir", cfg.DataDir)
	}
	c, err := ingest.NewConsumer(pool, ingest.ConsumerConfig{Brokers: r.Brokers, Topic: cfg.Topic,
		Group: cfg.Group, Partitions: int32(cfg.Partitions), MaxPollRecords: cfg.Poll,
		MaxSkew: cfg.MaxSkew, Logger: env.Log, Metrics: metrics, ClientOpts: groupOpts(cfg)})
	if err == nil {
		err = c.Start(ctx)
	}
	if err != nil {
		if r.Broker != nil {
			r.Broker.Close()
		}
		return nil, err
	}
	r.Consumer = c
	env.Log.Info("ingest consumer started", "topic", cfg.Topic, "group", cfg.Group)
	return r, nil
}

// groupOpts are the consumer group's timeouts: the session timeout, and heartbeats a third of
// it (Kafka's rule), at most every 3 s (franz-go's default).
func groupOpts(cfg IngestConfig) []kgo.Opt {
	if cfg.SessionTimeout <= 0 {
		return nil
	}
	return []kgo.Opt{kgo.SessionTimeout(cfg.SessionTimeout), kgo.HeartbeatInterval(min(3*time.Second, cfg.SessionTimeout/3))}
}

// Stop stops the consumer, then the embedded broker.
func (r *ingestRunner) Stop(ctx context.Context) error {
	err := r.Consumer.Stop(ctx)
	if r.Broker != nil {
		r.Broker.Close()
	}
	return err
}

// outIsTerminal reports whether w is a terminal (progress bars) rather than a file or pipe.
func outIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
