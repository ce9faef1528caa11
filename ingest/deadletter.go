package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Limits and retries of the consumer's dead letters.
const (
	// DefaultMaxRecordBytes is ConsumerConfig.MaxRecordBytes's default: 256 KiB. Events are
	// small JSON objects: the largest of the 19,406 Icecat products as an upsert event is 15 KB
	// (p99 7 KB), so a record 17 times that size is not an event, and it is refused before it is
	// decoded.
	DefaultMaxRecordBytes = 256 << 10
	// DeadLetterPrefixBytes is how much of an oversized record's value (and of its key) a dead
	// letter by reference keeps.
	DeadLetterPrefixBytes = 1 << 10
	// DefaultDLQAttempts is ConsumerConfig.DLQAttempts's default.
	DefaultDLQAttempts = 5
	// DefaultDLQAttemptTimeout is ConsumerConfig.DLQAttemptTimeout's default.
	DefaultDLQAttemptTimeout = 10 * time.Second
	// maxReasonBytes bounds the reason kept with a dead letter (the dlq.reason header and
	// dead_letters.reason).
	maxReasonBytes = 2000
)

// DLQ record headers.
const (
	HeaderReason    = "dlq.reason"
	HeaderTopic     = "dlq.topic"
	HeaderPartition = "dlq.partition"
	HeaderOffset    = "dlq.offset"
	HeaderTime      = "dlq.time"
	// HeaderSize is the size in bytes of the consumed record (key, value and headers).
	HeaderSize = "dlq.size"
	// HeaderByReference is "true" on a dead letter by reference: its value is only the first
	// DeadLetterPrefixBytes of the record's value, the original headers are left out, and the
	// record itself stays at dlq.topic/dlq.partition/dlq.offset for as long as the topic keeps it.
	HeaderByReference = "dlq.by-reference"
)

// RecordTooLargeError rejects a Kafka record larger than the consumer's MaxRecordBytes. The
// record is not decoded; it becomes a dead letter by reference.
type RecordTooLargeError struct {
	Size, Limit int
}

func (e *RecordTooLargeError) Error() string {
	return fmt.Sprintf("record of %d bytes is larger than the %d-byte limit; dead-lettered by reference "+
		"(the dead letter keeps the first %d bytes of its value)", e.Size, e.Limit, DeadLetterPrefixBytes)
}

// recordSize is what a record weighs against MaxRecordBytes: its key, value and headers.
func recordSize(kr *kgo.Record) int {
	n := len(kr.Key) + len(kr.Value)
	for _, h := range kr.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// decodeRecord decodes one consumed record. A record over maxBytes (key, value and headers) is
// refused with a *RecordTooLargeError before its value is looked at; otherwise the value must be
// a valid event (DecodeEvent) whose sku_id is the record's key, when it has one.
func decodeRecord(kr *kgo.Record, maxBytes int, o DecodeOptions) (Decoded, error) {
	if n := recordSize(kr); n > maxBytes {
		return Decoded{}, &RecordTooLargeError{Size: n, Limit: maxBytes}
	}
	d, err := DecodeEvent(kr.Value, o)
	if err == nil && len(kr.Key) > 0 && string(kr.Key) != strconv.FormatInt(d.SKUID, 10) {
		err = &ValidationError{Field: "key", Reason: fmt.Sprintf("record key %q is not the sku_id %d (records are keyed by SKU id so that one SKU's events stay in order)", truncate(string(kr.Key), 40), d.SKUID)}
	}
	return d, err
}

func prefix(b []byte) []byte {
	if len(b) <= DeadLetterPrefixBytes {
		return b
	}
	return b[:DeadLetterPrefixBytes:DeadLetterPrefixBytes]
}

// dlqSend is one dead letter on its way to the dead-letter topic.
type dlqSend struct {
	src    *kgo.Record // the consumed record
	reason error
	byRef  bool  // send a reference (a prefix of the value, no original headers)
	err    error // the outcome of the latest attempt, set by its promise
}

func newDLQSend(kr *kgo.Record, reason error) *dlqSend {
	var tooLarge *RecordTooLargeError
	return &dlqSend{src: kr, reason: reason, byRef: errors.As(reason, &tooLarge)}
}

// record makes the dead-letter topic's record: the consumed record (or, by reference, a prefix
// of its key and value) with the dlq.* headers.
func (s *dlqSend) record(topic string) *kgo.Record {
	kr := s.src
	key, value := kr.Key, kr.Value
	var h []kgo.RecordHeader
	if s.byRef {
		key, value = prefix(key), prefix(value)
		h = make([]kgo.RecordHeader, 0, 7)
	} else {
		h = make([]kgo.RecordHeader, 0, len(kr.Headers)+7)
		h = append(h, kr.Headers...)
	}
	h = append(h,
		kgo.RecordHeader{Key: HeaderReason, Value: []byte(truncate(s.reason.Error(), maxReasonBytes))},
		kgo.RecordHeader{Key: HeaderTopic, Value: []byte(kr.Topic)},
		kgo.RecordHeader{Key: HeaderPartition, Value: []byte(strconv.Itoa(int(kr.Partition)))},
		kgo.RecordHeader{Key: HeaderOffset, Value: []byte(strconv.FormatInt(kr.Offset, 10))},
		kgo.RecordHeader{Key: HeaderTime, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
		kgo.RecordHeader{Key: HeaderSize, Value: []byte(strconv.Itoa(recordSize(kr)))},
	)
	if s.byRef {
		h = append(h, kgo.RecordHeader{Key: HeaderByReference, Value: []byte("true")})
	}
	return &kgo.Record{Topic: topic, Key: key, Value: value, Headers: h}
}

// produceDLQ starts one attempt at sending sends to the dead-letter topic, bounded by
// DLQAttemptTimeout; the returned wait blocks until every send has its outcome in its err.
func (c *Consumer) produceDLQ(ctx context.Context, cl *kgo.Client, sends []*dlqSend) (wait func()) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.DLQAttemptTimeout)
	var wg sync.WaitGroup
	wg.Add(len(sends))
	for _, s := range sends {
		s.err = nil
		cl.Produce(actx, s.record(c.cfg.DLQTopic), func(_ *kgo.Record, err error) {
			s.err = err
			wg.Done()
		})
	}
	return func() {
		wg.Wait()
		cancel()
	}
}

// finishDLQ waits for the first attempt (started by produceDLQ while the batch was written)
// and retries the sends that failed, with jittered exponential backoff from RetryMin to
// RetryMax, at most DLQAttempts attempts in all. A dead letter the topic refuses as too large
// is sent again at once by reference. When attempts run out, the dead letters stay where the
// batch's transaction put them, in dead_letters, the failure is logged and counted, and the
// batch goes on: a dead-letter topic that is down or refuses records never stops the consumer.
// While it keeps failing (the previous batch's dead letters ran out of attempts too), each
// batch makes one attempt only, so the consumer does not slow to a crawl behind it. Only ctx
// ending is an error.
func (c *Consumer) finishDLQ(ctx context.Context, cl *kgo.Client, sends []*dlqSend, wait func()) error {
	attempts := c.cfg.DLQAttempts
	if c.dlqDown.Load() {
		attempts = 1
	}
	backoff := c.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		wait()
		if err := ctx.Err(); err != nil {
			return err
		}
		var failed []*dlqSend
		resized := false
		for _, s := range sends {
			if s.err == nil {
				continue
			}
			failed = append(failed, s)
			if !s.byRef && isTooLarge(s.err) {
				s.byRef, resized = true, true
			}
		}
		if len(failed) == 0 {
			c.dlqDown.Store(false)
			return nil
		}
		switch {
		case resized:
			// A dead letter too large for the topic goes again at once, by reference; the
			// switch, which happens once per dead letter, does not use up an attempt.
			attempt--
		case attempt >= attempts:
			c.dlqDown.Store(true)
			c.cfg.Metrics.dlqFailed(len(failed))
			sources := make([]string, 0, min(len(failed), 10))
			for _, s := range failed[:min(len(failed), 10)] {
				sources = append(sources, "kafka:"+s.src.Topic+"/"+strconv.Itoa(int(s.src.Partition))+"/"+strconv.FormatInt(s.src.Offset, 10))
			}
			c.cfg.Logger.Error("ingest: dead letters could not be sent to the dead-letter topic; they are in dead_letters only",
				"topic", c.cfg.DLQTopic, "dead_letters", len(failed), "attempts", attempt, "sources", sources, "err", failed[0].err)
			return nil
		default:
			sleep := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
			c.cfg.Logger.Warn("ingest: sending dead letters failed; retrying", "topic", c.cfg.DLQTopic,
				"dead_letters", len(failed), "attempt", attempt, "in", sleep.Round(time.Millisecond), "err", failed[0].err)
			t := time.NewTimer(sleep)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			backoff = min(backoff*2, c.cfg.RetryMax)
		}
		sends = failed
		wait = c.produceDLQ(ctx, cl, sends)
	}
}

// isTooLarge reports a record the producer or the broker refuses for its size.
func isTooLarge(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge)
}
