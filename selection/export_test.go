package selection

import (
	"context"

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
