// Package soakbench is `selection bench soak`: live ingest plus mixed API load from
// concurrent clients for a while, reporting throughput, p50/p99 per route, the 5xx count and
// the resident memory at the start and the end. Load, the API clients, is also what the
// fault suite (internal/faults) drives the service with.
package soakbench
