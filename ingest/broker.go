package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults of the Kafka settings.
const (
	DefaultTopic      = "sku-events"
	DefaultGroup      = "selection-ingest"
	DefaultPartitions = 4
	// DLQSuffix is appended to a topic's name to name its dead-letter topic.
	DLQSuffix = ".dlq"
	// EmbeddedRetentionBytes is how much of each partition the embedded broker keeps (its
	// oldest records go first, as a Kafka broker's log.retention.bytes): kfake holds an index
	// entry in memory for every batch of its log (about 22 bytes per record of the simulator's
	// stream), so an unbounded log grows the service's heap with every event. 256 MiB is about
	// 750,000 records of 350 bytes per partition; a consumer further behind than that loses
	// the oldest. Real clusters keep their own retention.
	EmbeddedRetentionBytes = 256 << 20
	// EmbeddedRetentionEvery is how often the embedded broker applies the retention.
	EmbeddedRetentionEvery = time.Minute
	// EmbeddedKeepConsumed is how many records below the consumer groups' committed offsets
	// each partition of the embedded broker keeps (for kcat and replays of the last minutes);
	// older ones, consumed by every group that reads the topic, are deleted at each retention
	// pass, so the broker's memory stays flat under a steady stream (the byte retention alone
	// lets it grow for hours). Records no group has committed past are never deleted this way.
	EmbeddedKeepConsumed = 10_000
)

// EmbeddedBroker is franz-go's kfake cluster run in-process as a single broker on 127.0.0.1:
// what the service and the demo use when no Kafka brokers are configured. With a data
// directory its topics, records and committed group offsets survive a restart.
type EmbeddedBroker struct {
	cluster *kfake.Cluster
	lock    *os.File
	once    sync.Once
	stop    chan struct{}
	done    chan struct{}
}

// StartEmbeddedBroker starts the embedded broker listening on 127.0.0.1:port (0 picks a free
// port). dir is its data directory, created if needed and locked against a second process;
// empty keeps everything in memory. Each partition keeps its newest EmbeddedRetentionBytes,
// applied every EmbeddedRetentionEvery.
func StartEmbeddedBroker(ctx context.Context, dir string, port int) (*EmbeddedBroker, error) {
	return startEmbeddedBroker(ctx, dir, port, EmbeddedRetentionBytes, EmbeddedRetentionEvery)
}

func startEmbeddedBroker(ctx context.Context, dir string, port int, retention int64, every time.Duration) (*EmbeddedBroker, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.ClusterID("selection-embedded"),
		kfake.BrokerConfigs(map[string]string{"log.retention.bytes": strconv.FormatInt(retention, 10)})}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	b := &EmbeddedBroker{}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("embedded kafka: data directory: %w", err)
		}
		lock, err := os.OpenFile(filepath.Join(dir, ".selection.lock"), os.O_CREATE|os.O_RDWR, 0o640)
		if err != nil {
			return nil, fmt.Errorf("embedded kafka: %w", err)
		}
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			lock.Close()
			return nil, fmt.Errorf("embedded kafka: %s is in use by another process: %w", dir, err)
		}
		b.lock = lock
		opts = append(opts, kfake.DataDir(dir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		b.unlock()
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	b.cluster = c
	b.stop, b.done = make(chan struct{}), make(chan struct{})
	go b.retain(every, EmbeddedKeepConsumed)
	return b, nil
}

// retain applies the retention every so often until Close: the byte retention, and the
// deletion of what every consumer group has consumed but keep records (trimConsumed). (kfake
// applies log.retention.bytes on its own only to topics with a retention setting of their own,
// and the service's topics are created with the cluster's defaults, here or on a real
// cluster.)
func (b *EmbeddedBroker) retain(every time.Duration, keep int64) {
	defer close(b.done)
	t := time.NewTicker(every)
	defer t.Stop()
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.cluster.ApplyRetention()
			if cl == nil {
				var err error
				if cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addrs()...)); err != nil {
					continue
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), every)
			_, _ = trimConsumed(ctx, kadm.NewClient(cl), keep) // tried again at the next pass
			cancel()
		}
	}
}

// trimConsumed deletes, in every partition that consumer groups have committed offsets in,
// the records more than keep below the least of their commits, and returns the new log start
// offsets it asked for.
func trimConsumed(ctx context.Context, adm *kadm.Client, keep int64) (kadm.Offsets, error) {
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("trim consumed: list groups: %w", err)
	}
	least := kadm.Offsets{}
	for _, g := range groups.Groups() {
		resp, err := adm.FetchOffsets(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("trim consumed: offsets of %s: %w", g, err)
		}
		resp.Each(func(o kadm.OffsetResponse) {
			if o.Err != nil || o.At < 0 {
				return
			}
			if cur, ok := least.Lookup(o.Topic, o.Partition); !ok || o.At < cur.At {
				if least[o.Topic] == nil {
					least[o.Topic] = map[int32]kadm.Offset{}
				}
				// (Offsets.Add keeps the higher of two offsets: not what is wanted here.)
				least[o.Topic][o.Partition] = kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.At}
			}
		})
	}
	del := kadm.Offsets{}
	least.Each(func(o kadm.Offset) {
		if o.At-keep > 0 {
			del.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.At - keep})
		}
	})
	if len(del) == 0 {
		return del, nil
	}
	res, err := adm.DeleteRecords(ctx, del)
	if err != nil {
		return nil, fmt.Errorf("trim consumed: %w", err)
	}
	return del, res.Error()
}

// Addrs are the broker's host:port addresses, to use as seed brokers.
func (b *EmbeddedBroker) Addrs() []string { return b.cluster.ListenAddrs() }

// Close stops the broker, writing its state to the data directory. It is idempotent.
func (b *EmbeddedBroker) Close() {
	b.once.Do(func() {
		close(b.stop)
		<-b.done
		b.cluster.Close()
		b.unlock()
	})
}

func (b *EmbeddedBroker) unlock() {
	if b.lock != nil {
		_ = syscall.Flock(int(b.lock.Fd()), syscall.LOCK_UN)
		b.lock.Close()
	}
}

// EnsureTopics creates the topics that do not exist yet, with partitions partitions and the
// cluster's default replication. Existing topics are left alone.
func EnsureTopics(ctx context.Context, cl *kgo.Client, partitions int32, topics ...string) error {
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopics(ctx, partitions, -1, nil, topics...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, t := range topics {
		r, ok := resp[t]
		if !ok {
			return fmt.Errorf("create topic %s: no answer", t)
		}
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t, r.Err)
		}
	}
	return nil
}
