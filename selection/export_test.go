package selection

import (
	"context"
	"fmt"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// SetRefreshPage sets how many pools RefreshAll reads at a time and returns what restores it.
func SetRefreshPage(n int) (restore func()) {
	old := refreshPage
	refreshPage = n
	return func() { refreshPage = old }
}

// ForgetOwned forgets which versions this process wrote or confirmed, as a restart (or another
// replica) would.
func (s *Service) ForgetOwned() { s.own.Clear() }

// ChangedSince is changedSince's SKUs of any kind (other) and of price changes only.
func (s *Service) ChangedSince(ctx context.Context, v *Version) (other, price *roaring64.Bitmap, err error) {
	cs, err := s.changedSince(ctx, v)
	if err != nil {
		return nil, nil, err
	}
	return cs.other, cs.price, nil
}

// WaitOnFailedRead is a pass's change read at v's position whose first reader fails on its
// own budget while another pool waits on it: the waiter, its budget left, reads again.
func (s *Service) WaitOnFailedRead(ctx context.Context, v *Version) (*roaring64.Bitmap, error) {
	read := &sharedCall[*changeSet]{done: make(chan struct{})}
	changes := &shared[*changeSet]{calls: map[string]*sharedCall[*changeSet]{"at v": read}}
	type result struct {
		cs  *changeSet
		err error
	}
	got := make(chan result, 1)
	go func() {
		cs, err := s.changesAt(ctx, "at v", v, changes)
		got <- result{cs, err}
	}()
	time.Sleep(50 * time.Millisecond) // the waiter finds the read in flight
	changes.mu.Lock()
	delete(changes.calls, "at v")
	changes.mu.Unlock()
	read.err = fmt.Errorf("changed skus: %w", context.DeadlineExceeded)
	close(read.done)
	r := <-got
	if r.err != nil {
		return nil, r.err
	}
	return r.cs.all, nil
}

// Own records that this process wrote or confirmed version v of pool id at pos, and returns
// the version its record for the pool names after that (0: none).
func (s *Service) Own(id int64, v int, pos Position) int {
	s.owned(id, v, pos)
	if ov, ok := s.own.Load(id); ok {
		return ov.(ownVersion).version
	}
	return 0
}

// Kept says whether this process keeps a version it owns (own) and a version body for pool id.
func (s *Service) Kept(id int64) (owned, body bool) {
	_, owned = s.own.Load(id)
	_, body = s.Pools.bodies.get(id)
	return owned, body
}

// PlansMatch is plansMatch.
var PlansMatch = plansMatch
