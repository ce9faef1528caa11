package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"selection/search"
	"selection/selection"
)

type poolRequest struct {
	Name       string          `json:"name"`
	Scenario   string          `json:"scenario,omitempty"`
	Plan       *selection.Plan `json:"plan,omitempty"`
	ValidFrom  *time.Time      `json:"valid_from,omitempty"`
	ValidUntil *time.Time      `json:"valid_until,omitempty"`
	// State a new pool starts in (POST only): draft, or published; default published, or
	// draft when approval is required (where only an approver may ask for published).
	State string `json:"state,omitempty"`
}

// actor is who the request's key is.
func actor(c *gin.Context) selection.Actor {
	if k, ok := c.Get(keyCtx); ok {
		return selection.Actor{Name: k.(Key).Name, Approver: k.(Key).Role == RoleApprover}
	}
	return selection.Actor{}
}

// reader reports whether the request's key only reads (it sees published pools only).
func reader(c *gin.Context) bool {
	k, ok := c.Get(keyCtx)
	return ok && k.(Key).Role == RoleReader
}

func (s *Server) poolInput(c *gin.Context) (selection.PoolInput, []string, error) {
	var req poolRequest
	if err := decode(c, &req); err != nil {
		return selection.PoolInput{}, nil, err
	}
	in := selection.PoolInput{Name: req.Name, Scenario: req.Scenario, ValidFrom: req.ValidFrom, ValidUntil: req.ValidUntil, State: req.State}
	if k, ok := c.Get(keyCtx); ok {
		in.CreatedBy = k.(Key).Name
	}
	var warnings []string
	switch {
	case req.Plan != nil:
		in.Plan = *req.Plan
	case strings.TrimSpace(req.Scenario) != "":
		pr, err := s.deps.Service.PlanScenario(c.Request.Context(), req.Scenario, "")
		if err != nil {
			return in, nil, err
		}
		in.Plan, warnings = pr.Plan, pr.Warnings
	default:
		return in, nil, fmt.Errorf("%w: a pool needs a scenario or a plan", errBadRequest)
	}
	return in, warnings, nil
}

type poolResponse struct {
	selection.Pool
	// Pending, on GET, is the refresh the pool's guard holds for review (GET .../pending).
	Pending  *selection.Pending `json:"pending,omitempty"`
	Warnings []string           `json:"warnings,omitempty"`
}

func (s *Server) createPool(c *gin.Context) {
	// One request: the intent's and the ranking's query embedding are one.
	c.Request = c.Request.WithContext(search.WithQueryMemo(c.Request.Context()))
	in, warnings, err := s.poolInput(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	switch who := actor(c); {
	case in.State == "" && s.deps.Service.Approval:
		in.State = selection.StateDraft
	case in.State == selection.StatePublished && s.deps.Service.Approval && !who.Approver:
		s.fail(c, fmt.Errorf("%w: approval is required: a planner's pool starts as a draft, and an approver publishes it", selection.ErrForbidden))
		return
	}
	p, _, err := s.deps.Service.CreatePool(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", fmt.Sprintf("/v1/pools/%d", p.ID))
	c.Header("ETag", poolETag(p.Revision))
	c.JSON(http.StatusCreated, poolResponse{Pool: p, Warnings: warnings})
}

// poolETag is the ETag of a pool at revision rev. It names the edit revision (name, scenario,
// plan, validity): refreshes, which add versions, leave it as it is.
func poolETag(rev int) string { return `"r` + strconv.Itoa(rev) + `"` }

// editOf is the edit the request makes: its key and its If-Match header. Entries that are not
// a pool ETag (weak ones included: If-Match compares strongly) match no revision.
func editOf(c *gin.Context) selection.Edit {
	var e selection.Edit
	if k, ok := c.Get(keyCtx); ok {
		e.Editor = k.(Key).Name
	}
	for _, h := range c.Request.Header.Values("If-Match") {
		for _, part := range strings.Split(h, ",") {
			tag := strings.TrimSpace(part)
			if tag == "" {
				continue
			}
			if e.IfMatch == nil {
				e.IfMatch = []int{}
			}
			if tag == "*" {
				e.Any = true
				continue
			}
			if rest, ok := strings.CutPrefix(tag, `"r`); ok && strings.HasSuffix(rest, `"`) {
				if rev, err := strconv.Atoi(strings.TrimSuffix(rest, `"`)); err == nil && rev > 0 {
					e.IfMatch = append(e.IfMatch, rev)
				}
			}
		}
	}
	return e
}

func (s *Server) updatePool(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	in, warnings, err := s.poolInput(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	// A stale or unconditional edit of a shared pool fails before the plan is run; Update checks
	// again under the pool's row lock, which is what decides between concurrent edits.
	e := editOf(c)
	cur, err := s.deps.Service.Pools.Get(c.Request.Context(), id)
	if err == nil {
		err = e.Check(&cur)
	}
	if err == nil && cur.State == selection.StatePublished && s.deps.Service.Approval && !actor(c).Approver {
		// What readers see changes only through an approver: a planner edits drafts.
		err = fmt.Errorf("%w: approval is required: a published pool is edited by an approver (or unpublished to a draft by one first)", selection.ErrForbidden)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	// Check the edited plan runs before saving it.
	if _, err := s.deps.Service.Preview(c.Request.Context(), in.Plan); err != nil {
		s.fail(c, err)
		return
	}
	p, err := s.deps.Service.Pools.Update(c.Request.Context(), id, in, e)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("ETag", poolETag(p.Revision))
	c.JSON(http.StatusOK, poolResponse{Pool: p, Warnings: warnings})
}

func (s *Server) deletePool(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.deps.Service.DeletePool(c.Request.Context(), id, actor(c)); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) getPool(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	p, err := s.deps.Service.Pools.Get(ctx, id)
	if err == nil && reader(c) && p.State != selection.StatePublished {
		err = fmt.Errorf("pool %d: %w", id, selection.ErrNotFound)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	out := poolResponse{Pool: p}
	switch pend, err := s.deps.Service.Pools.Pending(ctx, id); {
	case err == nil:
		out.Pending = pend
	case !errors.Is(err, selection.ErrNoPending):
		s.fail(c, err)
		return
	}
	c.Header("ETag", poolETag(p.Revision))
	c.JSON(http.StatusOK, out)
}

// listPools pages pool summaries (selection.PoolSummary: no plans), newest first; next_before
// is the cursor of the next page, present only when there is one.
func (s *Server) listPools(c *gin.Context) {
	limit, err := queryInt(c, "limit", 100, 1, selection.MaxSummaryPage)
	if err != nil {
		s.fail(c, err)
		return
	}
	before, err := queryBefore(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	pools, more, err := s.deps.Service.Pools.Summaries(c.Request.Context(), before, limit, reader(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	resp := poolList{Pools: pools}
	if more {
		resp.NextBefore = strconv.FormatInt(pools[len(pools)-1].ID, 10)
	}
	if pools == nil {
		resp.Pools = []selection.PoolSummary{}
	}
	c.JSON(http.StatusOK, resp)
}

type poolList struct {
	Pools      []selection.PoolSummary `json:"pools"`
	NextBefore string                  `json:"next_before,omitempty"`
}

func (s *Server) refreshPool(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.deps.Service.Refresh(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// pendingView is a held refresh as the API shows it: its diff from the published version.
type pendingView struct {
	*selection.Pending
	Diff selection.Diff `json:"diff"`
}

func (s *Server) getPending(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	if err := s.visible(c, id); err != nil {
		s.fail(c, err)
		return
	}
	p, err := s.deps.Service.Pools.Pending(ctx, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	cur, err := s.deps.Service.Pools.GetVersion(ctx, id, 0)
	if err != nil {
		s.fail(c, err)
		return
	}
	d := selection.DiffVersions(cur, p.Version)
	d.To = cur.Version + 1 // what it would become
	s.deps.Service.ExplainRemoved(c.Request.Context(), p.Version.Plan, d.Removed)
	c.JSON(http.StatusOK, pendingView{Pending: p, Diff: d})
}

func (s *Server) acceptPending(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.deps.Service.AcceptPending(c.Request.Context(), id, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) rejectPending(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.deps.Service.Pools.Reject(c.Request.Context(), id, actor(c)); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) listVersions(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.existsVisible(c, id); err != nil {
		s.fail(c, err)
		return
	}
	limit, err := queryInt(c, "limit", 100, 1, selection.MaxVersionPage)
	if err != nil {
		s.fail(c, err)
		return
	}
	before := 0
	if b := c.Query("before"); b != "" {
		if before, err = strconv.Atoi(b); err != nil || before < 1 {
			s.fail(c, fmt.Errorf("%w: before=%q is not a version", errBadRequest, b))
			return
		}
	}
	vs, more, err := s.deps.Service.Pools.VersionPage(c.Request.Context(), id, before, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	resp := versionList{Versions: vs}
	if vs == nil {
		resp.Versions = []selection.VersionInfo{}
	}
	if more {
		resp.NextBefore = strconv.Itoa(vs[len(vs)-1].Version)
	}
	c.JSON(http.StatusOK, resp)
}

// versionList is a page of a pool's versions, newest first; next_before is the cursor of the
// next (older) page, present only when there is one.
type versionList struct {
	Versions   []selection.VersionInfo `json:"versions"`
	NextBefore string                  `json:"next_before,omitempty"`
}

// cursor addresses a position in one version's ranking, so paging stays stable while new
// versions are written.
type cursor struct {
	Version int `json:"v"`
	Offset  int `json:"o"`
}

func encodeCursor(cur cursor) string {
	b, _ := json.Marshal(cur)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var cur cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &cur)
	}
	if err != nil || cur.Version < 1 || cur.Offset < 0 {
		return cur, fmt.Errorf("%w: cursor %q is not one this API gave out", errBadRequest, s)
	}
	return cur, nil
}

type itemsResponse struct {
	// Slot, Why and Until: for a slot's read, the slot, why this pool is live there, and until
	// when (absent for a pool's read).
	Slot       string     `json:"slot,omitempty"`
	Why        string     `json:"why,omitempty"`
	Until      *time.Time `json:"until,omitempty"`
	PoolID     string     `json:"pool_id"`
	Version    int        `json:"version"`
	Total      int        `json:"total"`
	Items      []ItemView `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// version resolves ?version= (default: current) or a cursor's version; a reader's key sees
// published pools only.
func (s *Server) version(c *gin.Context, id int64, n int) (*selection.Version, error) {
	if err := s.visible(c, id); err != nil {
		return nil, err
	}
	return s.deps.Service.Pools.GetVersion(c.Request.Context(), id, n)
}

// visible checks that the request's key may see the pool: any pool for a planner or an
// approver, published ones for a reader (others are not found, as if they did not exist).
func (s *Server) visible(c *gin.Context, id int64) error {
	if !reader(c) {
		return nil
	}
	return s.existsVisible(c, id)
}

// existsVisible is visible for a route that reads nothing else of the pool: the pool exists
// (404 otherwise), for any key, with one read of its state.
func (s *Server) existsVisible(c *gin.Context, id int64) error {
	state, err := s.deps.Service.Pools.State(c.Request.Context(), id)
	if err != nil {
		return err
	}
	if reader(c) && state != selection.StatePublished {
		return fmt.Errorf("pool %d: %w", id, selection.ErrNotFound)
	}
	return nil
}

func (s *Server) poolItems(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.itemsOf(c, id, nil)
}

// itemsOf answers a page of pool id's items; live, for a slot's read, says which slot and why.
func (s *Server) itemsOf(c *gin.Context, id int64, live *selection.LiveSlot) {
	limit, err := queryInt(c, "limit", 50, 1, 1000)
	if err != nil {
		s.fail(c, err)
		return
	}
	vn, err := queryInt(c, "version", 0, 1, 1<<30)
	if err != nil {
		s.fail(c, err)
		return
	}
	offset := 0
	if cs := c.Query("cursor"); cs != "" {
		cur, err := decodeCursor(cs)
		if err != nil {
			s.fail(c, err)
			return
		}
		vn, offset = cur.Version, cur.Offset
	}
	v, err := s.version(c, id, vn)
	if err != nil {
		s.fail(c, err)
		return
	}
	start := min(offset, len(v.Ranking)) // offset+limit could overflow: a cursor is client input
	end := start + min(limit, len(v.Ranking)-start)
	pins := map[int64]bool{}
	for _, p := range v.Plan.Pins {
		pins[p] = true
	}
	items, err := s.views(c, versionRows(v, start, end, pins))
	if err != nil {
		s.fail(c, err)
		return
	}
	resp := itemsResponse{PoolID: strconv.FormatInt(id, 10), Version: v.Version, Total: len(v.Ranking), Items: items}
	if live != nil {
		resp.Slot, resp.Why, resp.Until = live.Slot, live.Why, live.Until
	}
	if end < len(v.Ranking) {
		resp.NextCursor = encodeCursor(cursor{Version: v.Version, Offset: end})
	}
	body, err := json.Marshal(resp)
	if err != nil {
		s.fail(c, err)
		return
	}
	// The ETag covers the body: the version's ranking and the SKUs' current data.
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	c.Header("ETag", etag)
	c.Header("Cache-Control", "no-cache")
	if inm := c.GetHeader("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

func etagMatch(header, etag string) bool {
	for _, part := range strings.Split(header, ",") {
		p := strings.TrimSpace(part)
		if p == "*" || p == etag || strings.TrimPrefix(p, "W/") == etag {
			return true
		}
	}
	return false
}

func (s *Server) diff(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	to, err := queryInt(c, "to", 0, 1, 1<<30)
	if err != nil {
		s.fail(c, err)
		return
	}
	b, err := s.version(c, id, to)
	if err != nil {
		s.fail(c, err)
		return
	}
	from, err := queryInt(c, "from", b.Version-1, 1, 1<<30)
	if err != nil || from < 1 {
		if err == nil {
			err = fmt.Errorf("%w: version %d is the first; give from=", errBadRequest, b.Version)
		}
		s.fail(c, err)
		return
	}
	a, err := s.version(c, id, from)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, selection.DiffVersions(a, b))
}

type stateRequest struct {
	State string `json:"state"`
	Note  string `json:"note,omitempty"`
}

// setState moves a pool through draft, in_review, published and archived.
func (s *Server) setState(c *gin.Context) {
	var req stateRequest
	id, ok := s.idAndBody(c, &req)
	if !ok {
		return
	}
	if len(req.Note) > 1000 {
		s.fail(c, fmt.Errorf("%w: note longer than 1000 bytes", errBadRequest))
		return
	}
	p, err := s.deps.Service.SetState(c.Request.Context(), id, req.State, actor(c), req.Note)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("ETag", poolETag(p.Revision))
	c.JSON(http.StatusOK, poolResponse{Pool: p})
}

type rollbackRequest struct {
	Version int `json:"version"`
}

// rollback makes an earlier version current again, as a new version.
func (s *Server) rollback(c *gin.Context) {
	var req rollbackRequest
	id, ok := s.idAndBody(c, &req)
	if !ok {
		return
	}
	if req.Version < 1 {
		s.fail(c, fmt.Errorf("%w: version must be 1 or more", errBadRequest))
		return
	}
	out, err := s.deps.Service.Rollback(c.Request.Context(), id, req.Version, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

type auditPage struct {
	Entries    []selection.AuditEntry `json:"entries"`
	NextBefore string                 `json:"next_before,omitempty"`
}

// audit pages a pool's audit log, newest first.
func (s *Server) audit(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	limit, err := queryInt(c, "limit", 100, 1, selection.MaxAuditPage)
	if err != nil {
		s.fail(c, err)
		return
	}
	before, err := queryBefore(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.existsVisible(c, id); err != nil {
		s.fail(c, err)
		return
	}
	entries, more, err := s.deps.Service.Pools.Audit(c.Request.Context(), id, before, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := auditPage{Entries: entries}
	if out.Entries == nil {
		out.Entries = []selection.AuditEntry{}
	}
	if more {
		out.NextBefore = strconv.FormatInt(entries[len(entries)-1].ID, 10)
	}
	c.JSON(http.StatusOK, out)
}

// analytics answers a version's analytics (default: the current version).
func (s *Server) analytics(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	vn, err := queryInt(c, "version", 0, 1, 1<<30)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.visible(c, id); err != nil {
		s.fail(c, err)
		return
	}
	a, err := s.deps.Service.Analytics(c.Request.Context(), id, vn)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, a)
}

// idAndBody reads the path's pool id and the JSON body into req; false when either is bad
// (and answered).
func (s *Server) idAndBody(c *gin.Context, req any) (int64, bool) {
	id, err := pathID(c)
	if err == nil {
		err = decode(c, req)
	}
	if err != nil {
		s.fail(c, err)
		return 0, false
	}
	return id, true
}

// queryBefore is the ?before= cursor of a page (0 when absent).
func queryBefore(c *gin.Context) (int64, error) {
	b := c.Query("before")
	if b == "" {
		return 0, nil
	}
	before, err := strconv.ParseInt(b, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: before=%q is not an id", errBadRequest, b)
	}
	return before, nil
}
