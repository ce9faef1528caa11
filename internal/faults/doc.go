// Package faults holds the fault suite: tests (no library code) that run `selection serve` as
// a real process, the test binary re-executing itself as the command (TestMain), against the
// test Postgres and Kafka, and break what production breaks:
//
//   - TestKill9MidIngest: `kill -9` of serve while it ingests a known set of records from its
//     embedded broker (kfake with a data directory), then a restart on the same directory:
//     every record is in sku_events or dead_letters exactly once, the group's offsets resume
//     where the killed process had committed them (the restart re-applies only what was in
//     flight, counted as duplicates), and the in-memory indexes converge on the tables.
//   - TestPostgresCutDuringIngestAndLoad: a TCP proxy between serve and Postgres (testdb.Proxy:
//     the machine's Postgres is shared and is never restarted) cuts every connection
//     and refuses new ones for a few seconds, during live ingest and concurrent API load:
//     /readyz goes unready and back, requests meanwhile are 503 problem+json (never 500),
//     the process does not die, the consumer and the index followers reconnect, nothing is
//     lost.
//   - TestStartupFaults: Postgres unreachable at start, a missing model directory, a schema
//     not migrated: one clear line each (exit 1, no retry: the supervisor restarts the
//     service; a retry loop would hide the cause). TestFinding17WrongPasswordSaysSo: a wrong
//     password says the server refused the user, not that it cannot be reached.
//   - TestTopicBacklogAtStart: serve started on a topic 30,000 records behind is ready at
//     once, says "ingest: behind the topic; catching up" once, and stores every record once.
//   - TestFinding17TailersBackOff: while Postgres is away the index followers back off
//     (doubling up to 5 s) through the service's logger, and follow again afterwards.
//   - TestTwoReplicas: two serve processes on one schema and one Kafka cluster (kfake in the
//     test): the consumer group splits the partitions, both plan alike and answer a plan alike
//     (also shortly after a write), one runs the pool refresher (pg.Lease), and when its
//     replica is killed the other takes the refresher over and, after the group's session
//     timeout, every partition. Answers with an intent may differ: the product types the
//     tagger votes for SKUs whose text names none are each replica's own (counted in the log).
//
// The figures a run measured (records produced, stored, dead-lettered, duplicates, time to
// recover) go to the test log (go test -v ./internal/faults/); the assertions are counts,
// states and status codes only.
package faults
