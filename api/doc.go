// Package api is the HTTP edge of the selection service: the REST API under /v1 (gin), the
// health endpoints (/healthz, /readyz), Prometheus /metrics and the web page's assets.
//
// It is the only place where errors meet HTTP status codes (problem.go: selection.ErrInvalid
// is 400, ErrNotFound 404, a missing or unknown key 401, the wrong role 403, an oversized body
// 413), and every error body is application/problem+json. Keys carry a role: planners write,
// readers read; only SHA-256 hashes of keys are stored (api_keys), and lookups are cached for a
// minute. The OpenAPI 3 document (/v1/openapi.json) is generated from the route table in
// openapi.go; TestOpenAPIGolden keeps it equal to testdata/openapi.golden.json (go test ./api
// -update rewrites it) and TestEveryRouteIsDocumented keeps routes and document in step.
//
// Pool items page with a cursor that pins the version, so paging is stable while refreshes
// write new versions; the items answer carries an ETag over its body (ranking plus the SKUs'
// current data) and answers If-None-Match with 304.
package api
