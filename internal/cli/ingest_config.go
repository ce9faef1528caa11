package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/term"

	"selection/ingest"
)

// ingestSettings are the Kafka and ingest settings. Config's fields belong to config.go, so
// these live here and are filled by the same LoadConfig pass.
var ingestSettings struct {
	Brokers    []string // empty: the embedded broker
	Topic      string
	Group      string
	DataDir    string
	Port       int
	Partitions int
	Poll       int
	MaxSkew    time.Duration
}

func init() {
	settings = append(settings,
		setting{"SELECTION_KAFKA_BROKERS", "", "Kafka seed brokers, comma-separated; empty: serve, demo and ingest start the embedded broker (kfake) in-process",
			func(_ *Config, v string) error {
				ingestSettings.Brokers = nil
				for _, b := range strings.Split(v, ",") {
					if b = strings.TrimSpace(b); b != "" {
						if _, _, err := net.SplitHostPort(b); err != nil {
							return fmt.Errorf("%q is not host:port", b)
						}
						ingestSettings.Brokers = append(ingestSettings.Brokers, b)
					}
				}
				return nil
			}},
		setting{"SELECTION_KAFKA_TOPIC", ingest.DefaultTopic, "topic of the SKU events (dead letters go to <topic>.dlq)",
			func(_ *Config, v string) error {
				if strings.ContainsAny(v, " /\\,") || len(v) > 200 {
					return fmt.Errorf("%q is not a topic name", v)
				}
				ingestSettings.Topic = v
				return nil
			}},
		setting{"SELECTION_KAFKA_GROUP", ingest.DefaultGroup, "consumer group of the ingest consumers",
			func(_ *Config, v string) error { ingestSettings.Group = v; return nil }},
		setting{"SELECTION_KAFKA_DATA_DIR", "/var/lib/selection/kafka", "data directory of the embedded broker: topics and committed offsets survive a restart",
			func(_ *Config, v string) error { ingestSettings.DataDir = v; return nil }},
		setting{"SELECTION_KAFKA_PORT", "9092", "port of the embedded broker on 127.0.0.1 (simulate reaches it there)",
			intSetting(1, 65535, func(v int) { ingestSettings.Port = v })},
		setting{"SELECTION_KAFKA_PARTITIONS", strconv.Itoa(ingest.DefaultPartitions), "partitions of the topics ingest creates when they are missing (records are keyed by SKU id)",
			intSetting(1, 1024, func(v int) { ingestSettings.Partitions = v })},
		setting{"SELECTION_INGEST_POLL", "20000", "records per consumer poll; each partition's share is one database transaction",
			intSetting(1, 1000000, func(v int) { ingestSettings.Poll = v })},
		setting{"SELECTION_INGEST_MAX_SKEW", "5m", "how far in the future an event time may be before the event is a dead letter",
			func(_ *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err == nil && d <= 0 {
					err = errors.New("must be positive")
				}
				ingestSettings.MaxSkew = d
				return err
			}},
	)
}

// kafkaBrokers returns the configured brokers, or the embedded broker's address on this host
// (for commands that talk to the broker of a running serve, demo or ingest).
func kafkaBrokers() []string {
	if len(ingestSettings.Brokers) > 0 {
		return ingestSettings.Brokers
	}
	return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(ingestSettings.Port))}
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
	r := &ingestRunner{Metrics: metrics, Brokers: ingestSettings.Brokers}
	if len(r.Brokers) == 0 {
		b, err := ingest.StartEmbeddedBroker(ctx, ingestSettings.DataDir, ingestSettings.Port)
		if err != nil {
			return nil, fmt.Errorf("%w (set SELECTION_KAFKA_BROKERS to use a Kafka cluster, or SELECTION_KAFKA_DATA_DIR / SELECTION_KAFKA_PORT)", err)
		}
		r.Broker, r.Brokers = b, b.Addrs()
		env.Log.Info("embedded Kafka broker started", "addr", strings.Join(r.Brokers, ","), "data_dir", ingestSettings.DataDir)
	}
	c, err := ingest.NewConsumer(pool, ingest.ConsumerConfig{Brokers: r.Brokers, Topic: ingestSettings.Topic,
		Group: ingestSettings.Group, Partitions: int32(ingestSettings.Partitions), MaxPollRecords: ingestSettings.Poll,
		MaxSkew: ingestSettings.MaxSkew, Logger: env.Log, Metrics: metrics})
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
	env.Log.Info("ingest consumer started", "topic", ingestSettings.Topic, "group", ingestSettings.Group)
	return r, nil
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
