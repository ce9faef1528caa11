package lexical

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkUpsert indexes batches of 10,000 synthetic documents (a 12-word title and a 30-word
// description from a Zipf vocabulary of 50,000 words) and reports documents per second and heap
// bytes per document.
func BenchmarkUpsert(b *testing.B) {
	vocab := make([]string, 50000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%d", i)
	}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(7, 8)), 1.1, 1, uint64(len(vocab)-1))
	words := func(n int) string {
		s := ""
		for j := 0; j < n; j++ {
			s += vocab[zipf.Uint64()] + " "
		}
		return s
	}
	const batch = 10000
	docs := make([]Document, batch)
	for i := range docs {
		docs[i].Fields[FieldTitle] = words(12)
		docs[i].Fields[FieldDescription] = words(30)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ix, _ := New(Config{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range docs {
			docs[j].SKUID = int64(i*batch + j + 1)
			docs[j].Ordinal = int64(i*batch + j)
		}
		if err := ix.Upsert(docs...); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := float64(b.N * batch)
	b.ReportMetric(n/b.Elapsed().Seconds(), "docs/s")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/doc")
	runtime.KeepAlive(ix)
}
