package migrations

// ConcurrentFrom lets tests take the concurrent rebuild path on a small table.
var ConcurrentFrom = &concurrentFrom
