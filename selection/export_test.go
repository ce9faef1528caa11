package selection

// SetRefreshPage sets how many pools RefreshAll reads at a time and returns what restores it.
func SetRefreshPage(n int) (restore func()) {
	old := refreshPage
	refreshPage = n
	return func() { refreshPage = old }
}

// ForgetOwned forgets which versions this process wrote or confirmed, as a restart (or another
// replica) would.
func (s *Service) ForgetOwned() { s.own.Clear() }
