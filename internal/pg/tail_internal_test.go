package pg

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTailDone(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tl := NewTail(t0, 10*time.Second)
	require.Equal(t, t0.Add(-10*time.Second), tl.From())
	require.True(t, NewTail(time.Time{}, time.Hour).From().Equal(time.Unix(0, 0)), "an empty table's tail starts at the epoch")

	// A failed read records nothing: its rows are not Seen.
	require.False(t, tl.Seen(7, t0.Add(2*time.Second)))

	// No writer open: the next read starts just after the newest stamp.
	tl.Done([]Row{{7, t0.Add(2 * time.Second)}, {8, t0.Add(3 * time.Second)}}, time.Time{}, Floor{at: t0.Add(4 * time.Second), known: true})
	require.Equal(t, t0.Add(3*time.Second+time.Microsecond), tl.From(), "just after the newest stamp")
	require.Empty(t, tl.seen, "nothing seen can be read again")

	// A writer open since t0+5s while newer rows arrive: its start, inclusive.
	tl.Done([]Row{{9, t0.Add(5 * time.Second)}}, t0.Add(8*time.Second), Floor{at: t0.Add(5 * time.Second), known: true})
	require.Equal(t, t0.Add(5*time.Second), tl.From())
	require.True(t, tl.Seen(9, t0.Add(5*time.Second)), "a re-read at the boundary is skipped")
	require.False(t, tl.Seen(9, t0.Add(6*time.Second)), "the row changed again")

	// A writer open for longer than Overlap: the fixed window behind the newest stamp.
	tl.Done(nil, t0.Add(30*time.Second), Floor{at: t0.Add(6 * time.Second), known: true})
	require.Equal(t, t0.Add(20*time.Second), tl.From())
	require.Empty(t, tl.seen, "rows stamped before From are forgotten")

	// Unknown (sessions hidden): the fixed window; From never moves back.
	tl.Done(nil, t0.Add(31*time.Second), Floor{})
	require.Equal(t, t0.Add(21*time.Second), tl.From())
	tl.Done(nil, time.Time{}, Floor{at: t0, known: true})
	require.Equal(t, t0.Add(21*time.Second), tl.From())
}
