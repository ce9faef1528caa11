//go:build !unix

package icecat

// lockFile is a no-op where flock is not available: concurrent test processes may then both
// embed the catalogue (each writes the cache file atomically).
func lockFile(string) (func(), error) { return func() {}, nil }
