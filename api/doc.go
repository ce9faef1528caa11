// Package api is the HTTP edge of the selection service: the REST API under /v1 (gin), the
// health endpoints (/healthz, /readyz), Prometheus /metrics and the web page's assets.
//
// A Server is built over the service's parts; Start serves in the background, Stop shuts down:
//
//	srv, err := api.New(api.Config{Addr: ":8080"}, api.Deps{DB: pool, Service: svc, Catalog: store,
//		Index: tags, Registry: prometheus.NewRegistry(), Log: logger})
//	err = srv.Start(ctx)   // or mount srv.Handler() in a server of your own
//	defer srv.Stop(ctx)
//	spec := api.OpenAPI()  // the OpenAPI 3 document served at /v1/openapi.json
//
// It is the only place where errors meet HTTP status codes (problem.go: selection.ErrInvalid
// is 400, ErrNotFound 404, a missing or unknown key 401, the wrong role 403, an oversized body
// 413, a body that is not JSON 415, a rate limit 429 with Retry-After), and every error body is
// application/problem+json, its detail cut to MaxDetailBytes (detail.go: the client's input
// it quotes is bounded only by the body limit). Routes that read a JSON body (those with a
// request schema in the route table) refuse another Content-Type before reading it
// (requireJSON: curl -d sends a form type); a request without one is read as JSON.
// Keys carry a role: planners write, readers read; only SHA-256 hashes of keys are stored
// (api_keys). The OpenAPI 3 document (/v1/openapi.json) is generated from the route table in
// openapi.go, and the server registers exactly the table's routes, each behind the table's
// role (routes.go: a handler without a table entry panics at start); TestOpenAPIGolden keeps
// the document equal to testdata/openapi.golden.json (go test ./api -update rewrites it),
// TestEveryRouteIsDocumented keeps routes and document in step, and
// TestFinding9ReadersRefusedOnEveryWriteRoute checks every route's role against a reader key.
//
// Abuse limits (limit.go, auth.go), all token buckets with a burst of twice the rate: per client
// address on every route (100/s; the peer address, X-Forwarded-For is not trusted; an IPv6
// /64 counts as one), per key (50/s), and 20/s database lookups of keys the server has in
// neither cache, all clients together. A key found is trusted for 5 s (so a revoked key stops
// working within 5 s; rechecks do not spend the lookup budget, so valid keys keep working
// while wrong ones flood in), a key not found is refused for a minute without a lookup; known
// and unknown keys are two LRU caches of 10,000 each, so wrong keys never push valid ones out.
// A lookup writes last_used_at at most once a minute per key. A request refused before its
// handler (401, 403, 429) is answered without reading its body and its connection is closed,
// so a client dripping a body cannot hold a goroutine; the server also bounds reading (30 s),
// writing (60 s), idle connections (120 s) and header size (32 KiB). Metric labels are bounded:
// methods outside the standard nine are OTHER, routes are their patterns or "unmatched".
//
// Pool items page with a cursor that pins the version, so paging is stable while refreshes
// write new versions; the items answer carries an ETag over its body (ranking plus the SKUs'
// current data) and answers If-None-Match with 304.
//
// Pool edits are conditional (pools.go). A pool's ETag is its edit revision ("r3": 1 when
// created, one more per edit; refreshes leave it), given by GET, POST and PUT. PUT takes
// If-Match: a revision that is no longer current is 412, so of two planners editing from the
// same revision the second learns of the first instead of overwriting it. If-Match is required
// (428) when the pool is shared, meaning its current revision was written by another key (or by
// an unknown one: pools from before revisions were kept); a key may edit what it wrote last
// without one. selection.Edit states the rule; the store checks it under the pool's row lock.
//
// Lists and exports are bounded (pools.go, export.go): GET /v1/pools pages summaries (no plans,
// the scenario's first 200 characters) with a next_before cursor; an export reads the
// catalogue 500 SKUs at a time and writes and flushes each page before reading the next, and
// its CSV text cells starting with = + - @ get a leading apostrophe (no spreadsheet formulas).
package api
