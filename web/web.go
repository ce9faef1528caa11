// Package web holds the planners' web page: static HTML, CSS and JavaScript embedded in the
// binary and served by the API server at / (assets under /ui/). The page talks only to the
// public /v1 API with the key the planner gives it (kept in the browser's localStorage, or
// passed once in the URL fragment as #key=..., which the page removes with
// history.replaceState so that no history entry keeps it). The server sends the page with a
// Content-Security-Policy that allows only its own scripts, styles and fetches, and inline
// style attributes (the markup uses them); the page has no inline script.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// FS returns the page's assets (index.html, app.js, style.css).
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
