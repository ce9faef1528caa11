// Package poolbench measures the pool refresher at the seed platform's scale: thousands of live
// pools over the scenario bench's catalogue (up to 1,000,000 SKUs), refreshed from scratch and
// incrementally after batches of changed SKUs, with what the versions cost in Postgres. `selection
// bench pools` runs it on the data set `selection bench scenario` builds (the same schema, built
// once and reused).
//
// The pools are a realistic mix made from the scenario bench's briefs: each brief is planned once
// by the service's planner, then varied in size (50 to 5,000), ranking, market and pins, so broad
// and narrow, filtered and unfiltered pools sit side by side. The changes come from the live-event
// simulator (price moves, orders, restocks, views, title edits over Zipf-popular SKUs), written
// through ingest's one apply path, so the followers and the refresher see them as in serve.
//
// With --stream it then writes a live stream while passes run back to back and reports each
// event's freshness (stream.go); with --prune-every it also applies the leader's retention
// during the stream (versions beyond --keep and older than --keep-for, events older than
// --events-for) and reports pool_versions and sku_events after each round, to show whether
// storage stays flat once the windows fill. --cpuprofile profiles the first incremental pass.
package poolbench
