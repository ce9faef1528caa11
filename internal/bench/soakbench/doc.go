// Package soakbench is `selection bench soak`: live ingest plus mixed API load from
// concurrent clients for a while, reporting throughput, p50/p99 per route, the 5xx count, and
// the resident memory, the Go heap in use and the live SKUs at the start and the end (memory
// per live SKU tells data growth from a leak). Load, the API clients, is also what the
// fault suite (internal/faults) drives the service with.
package soakbench
