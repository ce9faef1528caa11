package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/api"
)

// readOnlyPosts are the POST routes that change nothing (previews and parsing): readers may.
var readOnlyPosts = map[string]bool{"/v1/search": true, "/v1/filters/parse": true}

// Finding 9: over the whole route table, every route that writes needs the planner role and
// answers a reader 403 (PUT and DELETE pools, refresh, the tag routes, ...), every route a
// reader may use answers a reader something else, and every route answers 401 without a key.
// The server registers exactly the table's routes, each behind the table's role, so a new
// route is in this test the moment it exists.
func TestFinding9ReadersRefusedOnEveryWriteRoute(t *testing.T) {
	h := newHarnessWith(t, api.Config{RatePerAddress: -1, RatePerKey: -1})
	ops := api.Operations()
	require.Len(t, ops, len(h.srv.Routes()))
	writes := 0
	for _, o := range ops {
		t.Run(o.Method+" "+o.Path, func(t *testing.T) {
			path := strings.NewReplacer("{id}", "1", "{name}", "some/tag").Replace(o.Path)
			writesData := o.Method != http.MethodGet && !(o.Method == http.MethodPost && readOnlyPosts[o.Path])
			if writesData {
				require.Equal(t, api.RolePlanner, o.Role, "a route that writes needs the planner role")
				writes++
			} else {
				require.Equal(t, api.RoleReader, o.Role)
			}
			requireProblem(t, h.do(o.Method, path, "", "{}"), http.StatusUnauthorized)
			w := h.do(o.Method, path, h.reader, "{}")
			if o.Role == api.RolePlanner {
				p := requireProblem(t, w, http.StatusForbidden)
				require.Contains(t, p.Detail, "needs the planner role")
			} else {
				require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, w.Code, w.Body.String())
			}
			w = h.do(o.Method, path, h.planner, "{}")
			require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, w.Code, w.Body.String())
		})
	}
	// POST /v1/plan, POST and PUT and DELETE /v1/pools, refresh, POST and DELETE /v1/tags.
	require.GreaterOrEqual(t, writes, 7)
}
