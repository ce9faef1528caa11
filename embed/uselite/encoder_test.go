package uselite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// TestEncoderCancel: cancelling mid-run returns the context error and
// leaves no goroutine behind.
func TestEncoderCancel(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := loadTestModel(t)
	enc := NewEncoder(m, Options{Workers: 2, BatchSize: 1})
	texts := make([]string, 400)
	for i := range texts {
		texts[i] = fmt.Sprintf("product number %d with a fairly ordinary title", i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var err error
	go func() {
		defer wg.Done()
		_, err = enc.EmbedDocuments(ctx, texts)
	}()
	cancel()
	wg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want nil or context.Canceled", err)
	}
}

// TestEncoderConcurrent: concurrent callers share the model and scratch
// pool and get the same vectors as a lone caller.
func TestEncoderConcurrent(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := loadTestModel(t)
	enc := NewEncoder(m, Options{BatchSize: 5})
	texts := []string{"a", "usb cable", "Lenovo ThinkPad X1 Carbon", "", "耳机", "toner cartridge black 6 pc(s)", "kids winter jacket"}
	want, err := enc.EmbedDocuments(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := enc.EmbedDocuments(context.Background(), texts)
			if err != nil {
				errs <- err
				return
			}
			for i := range got {
				for j := range got[i] {
					if got[i][j] != want[i][j] {
						errs <- fmt.Errorf("text %d differs under concurrency", i)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
