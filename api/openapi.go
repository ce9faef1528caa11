package api

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"selection/filter"
	"selection/selection"
)

// op documents one route. The OpenAPI document is generated from these, and a test checks that
// every route the server registers is documented and the other way round, and that the document
// matches the golden file api/testdata/openapi.golden.json.
type op struct {
	method, path, role, summary string
	params                      []param
	request, response           string // schema names ("" none)
	status                      int    // success status (default 200)
	contentTypes                []string
	conflict                    bool   // may answer 409 (the state forbids it now)
	etag                        bool   // the success answer carries an ETag
	ifMatch                     bool   // takes If-Match: 412 when stale, 428 when required and absent
	rest                        string // a path parameter that takes the rest of the path, slashes included
}

type param struct {
	name, in, typ, help string
	required            bool
}

var (
	idParam      = param{"id", "path", "string", "pool id", true}
	versionParam = param{"version", "query", "integer", "version number (default: current)", false}
	slotParam    = param{"slot", "path", "string", "slot name: 1-100 of a-z 0-9 . _ -", true}
)

var ops = []op{
	{method: "POST", path: "/v1/plan", role: RolePlanner, summary: "Turn a scenario into a plan for review",
		request: "PlanRequest", response: "PlanResponse"},
	{method: "POST", path: "/v1/search", role: RoleReader, summary: "Preview a scenario or a plan (ad-hoc search); nothing is saved",
		request: "SearchRequest", response: "SearchResponse"},
	{method: "GET", path: "/v1/pools", role: RoleReader, summary: "List pool summaries (no plans; the scenario's first 200 characters), newest first",
		params:   []param{{"limit", "query", "integer", "page size, 1..500 (default 100)", false}, {"before", "query", "string", "list pools with ids below this (next_before of the previous page, present when there is a next page)", false}},
		response: "PoolList"},
	{method: "POST", path: "/v1/pools", role: RolePlanner, summary: "Create a pool from a scenario or an edited plan; writes version 1",
		request: "PoolRequest", response: "Pool", status: 201, etag: true},
	{method: "GET", path: "/v1/pools/{id}", role: RoleReader, summary: "Get a pool; its ETag names the pool's edit revision (refreshes leave it)",
		params: []param{idParam}, response: "Pool", etag: true},
	{method: "PUT", path: "/v1/pools/{id}", role: RolePlanner, summary: "Edit a pool (name, scenario, plan, validity); refresh to apply. " +
		"If-Match names the revision the edit started from (412 when another edit came first); it is required (428) unless " +
		"the pool's current revision was written by the same key",
		params:  []param{idParam, {"If-Match", "header", "string", `the pool's ETag ("r<revision>") from GET, POST or an earlier PUT; * overwrites any revision`, false}},
		request: "PoolRequest", response: "Pool", etag: true, ifMatch: true},
	{method: "DELETE", path: "/v1/pools/{id}", role: RolePlanner, summary: "Delete a pool and its versions", params: []param{idParam}, status: 204},
	{method: "POST", path: "/v1/pools/{id}/refresh", role: RolePlanner, summary: "Re-run the pool's plan; a changed ranking becomes a new version (409 when other refreshes or edits of the pool keep winning)",
		params: []param{idParam}, response: "RefreshOutcome", conflict: true},
	{method: "GET", path: "/v1/pools/{id}/pending", role: RoleReader, summary: "The refresh held by the pool's guard (plan.guard), if any: why, its size, and its diff from the published version (404 when none)",
		params: []param{idParam}, response: "PendingVersion"},
	{method: "POST", path: "/v1/pools/{id}/pending/accept", role: RolePlanner, summary: "Publish the held refresh as the pool's next version (409 when the pool moved on since it was held: refresh again)",
		params: []param{idParam}, response: "RefreshOutcome", conflict: true},
	{method: "POST", path: "/v1/pools/{id}/pending/reject", role: RolePlanner, summary: "Drop the held refresh; the published version stands", params: []param{idParam}, status: 204},
	{method: "POST", path: "/v1/pools/{id}/state", role: RolePlanner, summary: "Move a pool through draft, in_review, published and archived (readers see published pools only; " +
		"archived ones are not refreshed). With approval required, publishing, unpublishing and archiving a published pool need the approver role (403)",
		params: []param{idParam}, request: "StateRequest", response: "Pool", etag: true},
	{method: "POST", path: "/v1/pools/{id}/rollback", role: RolePlanner, summary: "Make an earlier version current again, as a new version; its plan becomes the pool's plan " +
		"(with approval required, an approver's for a published pool)",
		params: []param{idParam}, request: "RollbackRequest", response: "RefreshOutcome", conflict: true},
	{method: "GET", path: "/v1/pools/{id}/audit", role: RoleReader, summary: "The pool's audit log, newest first: who created, edited, moved, published, rolled back it and when",
		params:   []param{idParam, {"limit", "query", "integer", "page size, 1..500 (default 100)", false}, {"before", "query", "string", "entries with ids below this (next_before of the previous page)", false}},
		response: "AuditPage"},
	{method: "GET", path: "/v1/pools/{id}/analytics", role: RoleReader, summary: "A version's analytics by the catalogue's live data: size, GMV, units and views over 1h/24h/7d, " +
		"views-to-sales conversion, stock coverage, and the mix by product type, brand, market and price band (the versions list carries size and GMV through time)",
		params: []param{idParam, versionParam}, response: "Analytics"},
	{method: "GET", path: "/v1/pools/{id}/versions", role: RoleReader, summary: "List a pool's versions, newest first, a page at a time",
		params:   []param{idParam, {"limit", "query", "integer", "page size, 1..500 (default 100)", false}, {"before", "query", "integer", "list versions below this one (next_before of the previous page, present when there is a next page)", false}},
		response: "VersionList"},
	{method: "GET", path: "/v1/pools/{id}/items", role: RoleReader, summary: "Page a version's items in rank order (ETag / If-None-Match)",
		params: []param{idParam, versionParam, {"cursor", "query", "string", "next_cursor of the previous page (pins the version)", false},
			{"limit", "query", "integer", "page size, 1..1000 (default 50)", false}, {"If-None-Match", "header", "string", "an ETag from an earlier answer: 304 when unchanged", false}},
		response: "ItemsPage", etag: true},
	{method: "GET", path: "/v1/pools/{id}/diff", role: RoleReader, summary: "What changed between two versions (added, removed, moved)",
		params:   []param{idParam, {"from", "query", "integer", "older version (default: to - 1)", false}, {"to", "query", "integer", "newer version (default: current)", false}},
		response: "Diff"},
	{method: "GET", path: "/v1/pools/{id}/export", role: RoleReader, summary: "Export a version as CSV or JSONL, in rank order, streamed page by page; " +
		"CSV text cells starting with = + - @ (or a tab or carriage return) get a leading ' so spreadsheets do not run them",
		params:       []param{idParam, versionParam, {"format", "query", "string", "csv (default) or jsonl", false}},
		contentTypes: []string{"text/csv", "application/x-ndjson"}},
	{method: "GET", path: "/v1/tags", role: RoleReader, summary: "List tags with their sizes", response: "TagList"},
	{method: "POST", path: "/v1/tags", role: RolePlanner, summary: "Define a tag (rule or prototype) and build its members",
		request: "TagDefinition", response: "Object", status: 201},
	{method: "DELETE", path: "/v1/tags/{name}", role: RolePlanner, summary: "Delete a tag; refused (409) while another tag or a pool refers to it",
		params: []param{{"name", "path", "string", "tag name (any case; a discovered tag's family/topic as it is)", true}}, status: 204, conflict: true, rest: "name"},
	{method: "GET", path: "/v1/slots", role: RoleReader, summary: "The campaign calendar: slots (places pools are shown, by market) with their schedules in a window",
		params: []param{{"market", "query", "string", "one market's slots (default: all)", false}, {"from", "query", "string", "RFC 3339 (default: 1 day ago)", false},
			{"to", "query", "string", "RFC 3339 (default: 30 days on)", false}}, response: "Calendar"},
	{method: "PUT", path: "/v1/slots/{slot}", role: RolePlanner, summary: "Create or update a slot: its market and base pool (the fallback outside its schedules)",
		params: []param{slotParam}, request: "SlotRequest", response: "Slot"},
	{method: "DELETE", path: "/v1/slots/{slot}", role: RolePlanner, summary: "Delete a slot and its schedules", params: []param{slotParam}, status: 204},
	{method: "POST", path: "/v1/slots/{slot}/schedules", role: RolePlanner, summary: "Schedule a pool in a slot from starts_at until ends_at (409 when it overlaps another schedule of the slot)",
		params: []param{slotParam}, request: "ScheduleRequest", response: "Schedule", status: 201, conflict: true},
	{method: "DELETE", path: "/v1/slots/{slot}/schedules/{id}", role: RolePlanner, summary: "Remove a schedule from a slot",
		params: []param{slotParam, {"id", "path", "string", "schedule id", true}}, status: 204},
	{method: "GET", path: "/v1/slots/{slot}/items", role: RoleReader, summary: "The items of whichever pool is live in the slot now (its schedule's published pool, else its base pool), " +
		"with the pool, why it is that one and until when; page on with GET /v1/pools/{pool_id}/items?cursor=next_cursor",
		params: []param{slotParam, {"limit", "query", "integer", "page size, 1..1000 (default 50)", false}}, response: "SlotItems"},
	{method: "GET", path: "/v1/fields", role: RoleReader, summary: "List the filterable fields and common values", response: "FieldList"},
	{method: "POST", path: "/v1/filters/parse", role: RoleReader, summary: "Turn a filter's text form (brand = Logitech and price < 5000) into its JSON form",
		request: "FilterText", response: "FilterParsed"},
	{method: "GET", path: "/v1/skus", role: RoleReader, summary: "Look up SKUs by id",
		params: []param{{"ids", "query", "string", "comma-separated SKU ids (at most 1,000)", true}}, response: "SKUList"},
	{method: "GET", path: "/v1/skus/{id}", role: RoleReader, summary: "Look up one SKU",
		params: []param{{"id", "path", "string", "SKU id", true}}, response: "SKU"},
}

func obj(props map[string]any, required ...string) map[string]any {
	m := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		m["required"] = required
	}
	return m
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }
func arr(items any) map[string]any   { return map[string]any{"type": "array", "items": items} }
func typ(t string, desc string) map[string]any {
	m := map[string]any{"type": t}
	if desc != "" {
		m["description"] = desc
	}
	return m
}

var (
	str  = typ("string", "")
	num  = typ("number", "")
	intg = typ("integer", "")
	boo  = typ("boolean", "")
)

func schemas() map[string]any {
	id := typ("string", "64-bit SKU id as a decimal string")
	ids := arr(id)
	return map[string]any{
		"Problem": obj(map[string]any{"type": str, "title": str, "status": intg, "detail": str, "instance": str}, "type", "title", "status"),
		"Expr": map[string]any{"type": "object", "description": "Filter expression, one key per object: " +
			`{"and":[e,...]} {"or":[e,...]} {"not":e} {"all":true} {"tag":"name"} ` +
			`{"attr":{"field":"brand","value":"Logitech"}} {"attr":{"field":"market","in":["SG","ALL"]}} ` +
			`{"range":{"field":"price","gte":1000,"lte":5000}} (gt, gte, lt, lte, eq; integers, money in minor units). Fields: GET /v1/fields. ` +
			fmt.Sprintf("At most %d terms (each operator, tag, range and value is one), %d of them numeric, nested at most 64 deep.", filter.MaxTerms, filter.MaxRanges)},
		"RuleFilter": map[string]any{"description": `filter text ("brand = Logitech", "stock < 5", "tag = clearance"), or an Expr`,
			"oneOf": []any{typ("string", ""), ref("Expr")}},
		"Plan": obj(map[string]any{
			"version":       typ("integer", "plan schema version, 1"),
			"query":         typ("string", "semantic query: what the products are"),
			"filter":        ref("Expr"),
			"exclude_terms": arr(str),
			"ranking": obj(map[string]any{
				"by":      map[string]any{"type": "string", "enum": []string{"relevance", "sales", "price_asc", "price_desc", "newest", "rating", "blend"}},
				"weights": map[string]any{"type": "object", "additionalProperties": num, "description": "blend weights over relevance, sales, rating, discount, newest, cheap"},
			}, "by"),
			"limit":      typ("integer", "1..10000"),
			"pins":       ids,
			"exclusions": ids,
			"rules": map[string]any{"type": "array", "maxItems": selection.MaxRules, "description": "boost (factor > 0) or bury (factor < 0) the SKUs a filter holds; " +
				"a rule of factor 1 moves a SKU up half the ranked list at most, and the rules' total on one SKU is bounded to [-1, 1]",
				"items": obj(map[string]any{"name": str, "filter": ref("RuleFilter"),
					"factor": map[string]any{"type": "number", "minimum": -1, "maximum": 1, "description": "not 0"}}, "filter", "factor")},
			"guard": map[string]any{"type": "object", "description": "safety net on refresh: a refresh the data caused that would leave the pool below min_size SKUs, " +
				"or remove more than max_drop_pct percent of the published members, is held as the pool's pending version (GET /v1/pools/{id}/pending) for a planner to accept or reject",
				"properties": map[string]any{"min_size": typ("integer", "0..limit; 0: off"), "max_drop_pct": typ("integer", "0..100; 0: off")}},
			"slots": map[string]any{"type": "array", "maxItems": selection.MaxSlots, "description": "positions from..to (1-based, within the limit, not overlapping) " +
				"reserved for the best-ranked SKUs a filter holds; pins keep their positions first",
				"items": obj(map[string]any{"name": str, "from": intg, "to": intg, "filter": ref("RuleFilter")}, "from", "to", "filter")},
			"currency": map[string]any{"type": "string", "pattern": "^([A-Z]{3})?$", "description": "ISO 4217 code"},
			"campaign": map[string]any{"type": "string", "maxLength": 100, "description": "at most 100 bytes"},
		}, "version", "query", "ranking", "limit"),
		"PlanRequest": obj(map[string]any{"scenario": str,
			"planner": map[string]any{"type": "string", "enum": []string{"deterministic", "llm", "auto"}}}, "scenario"),
		"PlanResponse": obj(map[string]any{"scenario": str, "plan": ref("Plan"), "planner": str,
			"understood": arr(obj(map[string]any{"text": str, "meaning": str})), "notes": arr(str), "warnings": arr(str)}),
		"SearchRequest": obj(map[string]any{"scenario": str, "plan": ref("Plan"), "limit": intg}),
		"Item": obj(map[string]any{"rank": intg, "sku_id": id, "title": str, "brand": str, "market": str, "currency": str,
			"price": typ("integer", "minor units"), "list_price": intg, "discount_pct": intg, "stock": intg, "rating": num,
			"sales_7d": intg, "score": num, "pinned": boo, "rules": arr(str), "slot": str, "live": boo, "tags": arr(str), "why": str}),
		"SearchResponse": obj(map[string]any{"plan": ref("Plan"), "items": arr(ref("Item")), "candidates": intg,
			"matched":    typ("integer", "SKUs that pass the filter and are of the intent's types (with those of other types holding every word of the query)"),
			"stop":       typ("string", "why the list ends where it does"),
			"confidence": num, "method": str, "warnings": arr(str), "timings_ms": map[string]any{"type": "object", "additionalProperties": num}}),
		"PoolRequest": obj(map[string]any{"name": map[string]any{"type": "string", "maxLength": 200, "description": "at most 200 bytes"},
			"scenario": map[string]any{"type": "string", "maxLength": 4096, "description": "at most 4,096 bytes"}, "plan": ref("Plan"),
			"valid_from": typ("string", "RFC 3339"), "valid_until": typ("string", "RFC 3339"),
			"state": map[string]any{"type": "string", "enum": []string{"draft", "published"}, "description": "POST only: the state a new pool starts in " +
				"(default published, or draft when approval is required, where only an approver may ask for published)"}}, "name"),
		"Pool": obj(map[string]any{"id": str, "name": str, "scenario": str, "plan": ref("Plan"), "valid_from": str,
			"valid_until": str, "current_version": intg, "revision": typ("integer", "edit revision: 1 when created, one more per edit"),
			"updated_by": typ("string", "the key that wrote the current revision"), "created_by": str, "created_at": str, "updated_at": str, "warnings": arr(str),
			"state":         map[string]any{"type": "string", "enum": []string{"draft", "in_review", "published", "archived"}, "description": "readers see published pools only"},
			"pending":       obj(map[string]any{"pool_id": str, "based_on": intg, "reason": str, "size": intg, "created_at": str}),
			"refreshed_at":  typ("string", "when a refresh last wrote the current version or found it still right (absent: no version yet)"),
			"events_behind": typ("integer", "catalogue events accepted after the last one the current version reflects (about: sequences may skip)")}),
		"PoolSummary": obj(map[string]any{"id": str, "name": str, "scenario": typ("string", "the scenario's first 200 characters"),
			"scenario_truncated": boo, "ranking": str, "limit": intg, "state": str, "pins": typ("integer", "number of pins"), "exclusions": typ("integer", "number of exclusions"),
			"valid_from": str, "valid_until": str, "current_version": intg, "revision": intg, "created_by": str, "created_at": str, "updated_at": str}),
		"PoolList": obj(map[string]any{"pools": arr(ref("PoolSummary")), "next_before": str}),
		"VersionList": obj(map[string]any{"versions": arr(obj(map[string]any{"version": intg, "member_count": intg, "event_seq": intg, "created_at": str,
			"gmv_24h":   typ("integer", "GMV (minor units) its SKUs had sold in the 24 h before it was written; absent: not recorded"),
			"units_24h": typ("integer", "units its SKUs had sold in the 24 h before it was written")})), "next_before": str}),
		"Analytics": obj(map[string]any{"pool_id": str, "version": intg, "size": intg, "deleted": typ("integer", "SKUs of the version deleted since"),
			"gmv":           map[string]any{"type": "object", "additionalProperties": intg, "description": "GMV in minor units by window: 1h, 24h, 7d"},
			"units":         map[string]any{"type": "object", "additionalProperties": intg, "description": "units sold by window"},
			"views":         map[string]any{"type": "object", "additionalProperties": intg, "description": "views by window"},
			"conversion_7d": typ("number", "units sold per view over 7 days"), "in_stock": intg, "stock_coverage": typ("number", "share of its live SKUs in stock"),
			"stock_units": intg, "mix": map[string]any{"type": "object", "description": "by product_type, brand, market and price_band (catalogue currency): largest first, at most 12 each",
				"additionalProperties": arr(obj(map[string]any{"value": str, "skus": intg, "gmv_7d": intg, "units_7d": intg}))}}),
		"ItemsPage": obj(map[string]any{"pool_id": str, "version": intg, "total": intg, "items": arr(ref("Item")), "next_cursor": str}),
		"Moved":     obj(map[string]any{"sku_id": id, "from_rank": intg, "to_rank": intg}),
		"Diff":      obj(map[string]any{"from": intg, "to": intg, "added": arr(ref("Moved")), "removed": arr(ref("Moved")), "moved": arr(ref("Moved")), "unchanged": intg}),
		"RefreshOutcome": obj(map[string]any{"pool_id": str, "version": intg, "changed": boo, "skipped": boo,
			"held": typ("boolean", "the new ranking broke the pool's guard and waits as its pending version"), "diff": ref("Diff"), "reason": str, "trigger": str, "warnings": arr(str)}),
		"Schedule":        obj(map[string]any{"id": str, "slot": str, "pool_id": str, "pool_name": str, "pool_state": str, "starts_at": str, "ends_at": str, "created_by": str}),
		"Slot":            obj(map[string]any{"name": str, "market": str, "base_pool": typ("string", "pool id of the fallback"), "schedules": arr(ref("Schedule")), "updated_at": str}),
		"Calendar":        obj(map[string]any{"slots": arr(ref("Slot")), "from": str, "to": str}),
		"SlotRequest":     obj(map[string]any{"market": str, "base_pool": typ("string", "pool id (absent: none)")}),
		"ScheduleRequest": obj(map[string]any{"pool_id": str, "starts_at": typ("string", "RFC 3339"), "ends_at": typ("string", "RFC 3339")}, "pool_id", "starts_at", "ends_at"),
		"SlotItems": obj(map[string]any{"slot": str, "pool_id": str, "why": str, "until": typ("string", "when the answer may change next (absent: nothing scheduled later)"),
			"version": intg, "total": intg, "items": arr(ref("Item")), "next_cursor": str}),
		"StateRequest": obj(map[string]any{"state": map[string]any{"type": "string", "enum": []string{"draft", "in_review", "published", "archived"}},
			"note": typ("string", "at most 1,000 bytes; kept in the audit log")}, "state"),
		"RollbackRequest": obj(map[string]any{"version": typ("integer", "the version to make current again")}, "version"),
		"AuditPage": obj(map[string]any{"entries": arr(obj(map[string]any{"id": str, "pool_id": str, "at": str, "actor": str,
			"action": typ("string", "created, edited, state, pending accepted, pending rejected, rollback"), "detail": str})),
			"next_before": str}),
		"PendingVersion": obj(map[string]any{"pool_id": str, "based_on": typ("integer", "the published version it was compared with"),
			"reason": str, "size": intg, "created_at": str, "diff": ref("Diff")}),
		"TagList":       obj(map[string]any{"tags": arr(obj(map[string]any{"name": str, "kind": str, "members": intg}))}),
		"TagDefinition": map[string]any{"type": "object", "description": "name, kind (rule or prototype), and for a rule tag the rule (an Expr) and/or words its SKUs' titles hold (words: [\"gaming\", \"gamer\"]), for a prototype tag descriptions / example SKU ids"},
		"Object":        map[string]any{"type": "object"},
		"FieldList":     obj(map[string]any{"fields": arr(obj(map[string]any{"name": str, "kind": str, "help": str, "values": arr(str)}))}),
		"SKU": obj(map[string]any{"id": id, "ordinal": intg, "market": str, "title": str, "description": str, "brand": str,
			"category": str, "product_type": str, "attributes": map[string]any{"type": "object"}, "currency": str, "price": intg,
			"list_price": intg, "discount_pct": intg, "stock": intg, "rating": num, "sales_7d": intg, "live": boo, "tags": arr(str)}),
		"FilterText":   obj(map[string]any{"text": str}, "text"),
		"FilterParsed": obj(map[string]any{"filter": ref("Expr"), "text": str}),
		"SKUList":      obj(map[string]any{"skus": arr(ref("SKU"))}),
	}
}

var (
	openapiOnce sync.Once
	openapiDoc  []byte
)

// OpenAPI returns the OpenAPI 3 document of the API.
func OpenAPI() []byte {
	openapiOnce.Do(func() {
		paths := map[string]map[string]any{}
		for _, o := range ops {
			item := paths[o.path]
			if item == nil {
				item = map[string]any{}
				paths[o.path] = item
			}
			item[strings.ToLower(o.method)] = operation(o)
		}
		doc := map[string]any{
			"openapi": "3.0.3",
			// The page and the API are served together: the server is the one that served
			// this document (SELECTION_HTTP_ADDR).
			"servers": []any{map[string]any{"url": "/", "description": "the service that serves this document (SELECTION_HTTP_ADDR, default 127.0.0.1:8080)"}},
			"info": map[string]any{"title": "Selection service API", "version": "1.0.0",
				"license": map[string]any{"name": "Proprietary: all rights reserved", "url": "/ui/LICENSE.txt"},
				"description": "Campaign planners turn scenarios into ranked, saved, refreshable pools of SKUs. " +
					"Every /v1 route but this document needs an API key (X-API-Key or Authorization: Bearer); " +
					"x-role says which role: reader reads (published pools only), planner writes, approver publishes. Errors are application/problem+json; " +
					"429 (with Retry-After) answers a client address, a key, or unknown keys over their rate."},
			"paths": paths,
			"components": map[string]any{
				"schemas": schemas(),
				"securitySchemes": map[string]any{
					"apiKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"},
					"bearer": map[string]any{"type": "http", "scheme": "bearer"},
				},
			},
		}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			panic(err) // static data: cannot fail
		}
		openapiDoc = append(b, '\n')
	})
	return openapiDoc
}

// operation is the OpenAPI operation object of one route: its responses (the success, the
// problems every route can answer, and those of its own), parameters and request body.
func operation(o op) map[string]any {
	status := o.status
	if status == 0 {
		status = 200
	}
	resp := map[string]any{"description": "success"}
	switch {
	case o.response != "":
		resp["content"] = map[string]any{"application/json": map[string]any{"schema": ref(o.response)}}
	case len(o.contentTypes) > 0:
		ct := map[string]any{}
		for _, t := range o.contentTypes {
			ct[t] = map[string]any{"schema": str}
		}
		resp["content"] = ct
	}
	problem := map[string]any{"description": "problem", "content": map[string]any{"application/problem+json": map[string]any{"schema": ref("Problem")}}}
	responses := map[string]any{itoa(status): resp, "400": problem, "401": problem, "403": problem, "404": problem, "413": problem, "500": problem,
		"429": map[string]any{"description": "too many requests (per client address, per key, or lookups of unknown keys); Retry-After says when to retry",
			"headers": map[string]any{"Retry-After": map[string]any{"description": "seconds", "schema": intg}},
			"content": problem["content"]}}
	if o.path == "/v1/pools/{id}/items" {
		responses["304"] = map[string]any{"description": "not modified (If-None-Match matched the ETag)"}
	}
	if o.conflict {
		responses["409"] = problem
	}
	if o.etag {
		resp["headers"] = map[string]any{"ETag": map[string]any{"schema": str}}
	}
	if o.ifMatch {
		responses["412"] = problem
		responses["428"] = problem
	}
	out := map[string]any{
		"summary":     o.summary,
		"operationId": operationID(o),
		"security":    []any{map[string]any{"apiKey": []string{}}, map[string]any{"bearer": []string{}}},
		"x-role":      o.role,
		"responses":   responses,
	}
	var params []any
	for _, p := range o.params {
		params = append(params, map[string]any{"name": p.name, "in": p.in, "required": p.required,
			"description": p.help, "schema": typ(p.typ, "")})
	}
	if params != nil {
		out["parameters"] = params
	}
	if o.request != "" {
		responses["415"] = map[string]any{"description": "the body's Content-Type is not application/json (or another +json type, UTF-8); a request without one is read as JSON",
			"content": problem["content"]}
		out["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref(o.request)}}}
	}
	return out
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func operationID(o op) string {
	parts := []string{strings.ToLower(o.method)}
	for _, seg := range strings.Split(strings.TrimPrefix(o.path, "/v1/"), "/") {
		seg = strings.Trim(seg, "{}")
		if seg != "" {
			parts = append(parts, strings.ToUpper(seg[:1])+seg[1:])
		}
	}
	return strings.Join(parts, "")
}

// Documented returns "METHOD path" for every documented route, in gin's path syntax.
func Documented() []string {
	var out []string
	for _, o := range ops {
		out = append(out, o.method+" "+ginPath(o))
	}
	sort.Strings(out)
	return out
}

// ginPath is o's path in gin's syntax (:id, and *name for a parameter that takes the rest).
func ginPath(o op) string {
	p := o.path
	for _, prm := range o.params {
		switch {
		case prm.in == "path" && prm.name == o.rest:
			p = strings.ReplaceAll(p, "{"+prm.name+"}", "*"+prm.name)
		case prm.in == "path":
			p = strings.ReplaceAll(p, "{"+prm.name+"}", ":"+prm.name)
		}
	}
	return p
}

// Operation is one route of the table: method, path (OpenAPI syntax) and the role it needs.
type Operation struct {
	Method, Path, Role string
}

// Operations lists the route table (the server registers exactly these, each behind its role).
func Operations() []Operation {
	out := make([]Operation, len(ops))
	for i, o := range ops {
		out[i] = Operation{Method: o.method, Path: o.path, Role: o.role}
	}
	return out
}
