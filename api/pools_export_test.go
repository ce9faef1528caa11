package api

import "testing"

// SetExportPage makes exports read (and write) n SKUs at a time until the test ends.
func SetExportPage(t testing.TB, n int) {
	old := exportPage
	exportPage = n
	t.Cleanup(func() { exportPage = old })
}
