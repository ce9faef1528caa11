package lexical

import (
	"crypto/md5"
	"testing"
)

// A content hash of an md5's size is kept as it is; another (a column changed to another
// digest) by its md5, so that two different hashes stay different.
func TestHashOf(t *testing.T) {
	a := md5.Sum([]byte("wireless mouse"))
	if got := hashOf(a[:]); got != textHash(a) {
		t.Fatalf("an md5 is kept as it is: %x, want %x", got, a)
	}
	long1, long2 := make([]byte, 32), make([]byte, 32)
	long2[31] = 1
	if hashOf(long1) == hashOf(long2) {
		t.Fatal("two 32-byte hashes that differ in their last byte came out the same")
	}
	if hashOf(long1[:16]) == hashOf(long1) {
		t.Fatal("a hash and its prefix came out the same")
	}
}
