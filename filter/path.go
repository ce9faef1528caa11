package filter

import (
	"strconv"
	"strings"
)

// pathError is an error inside a nested expression with the path down to it
// ("and[2].not.or[0]"). Its message shows at most pathShown segments of the path, so a filter
// nested MaxDepth deep is refused with a message of a few hundred bytes, not one segment per
// level.
type pathError struct {
	rev []string // innermost segment first
	err error
}

// pathShown is how many segments a message shows: the outer half and the inner half of them.
const pathShown = 6

func (e *pathError) Error() string {
	n := len(e.rev)
	seg := func(i int) string { return e.rev[n-1-i] } // outermost first
	var b strings.Builder
	join := func(from, to int) {
		for i := from; i < to; i++ {
			if i > from {
				b.WriteByte('.')
			}
			b.WriteString(seg(i))
		}
	}
	if n <= pathShown {
		join(0, n)
	} else {
		join(0, pathShown/2)
		b.WriteString("…")
		join(n-pathShown/2, n)
		b.WriteString(" (" + strconv.Itoa(n) + " levels)")
	}
	return b.String() + ": " + e.err.Error()
}

func (e *pathError) Unwrap() error { return e.err }

// atPath puts seg in front of err's path (making it a pathError if it is not one).
func atPath(seg string, err error) error {
	if pe, ok := err.(*pathError); ok {
		pe.rev = append(pe.rev, seg)
		return pe
	}
	return &pathError{rev: []string{seg}, err: err}
}
