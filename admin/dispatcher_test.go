package admin

import "testing"

// newTestDispatcher returns the dispatcher the API tests run against.
func newTestDispatcher(t *testing.T) testDispatcher {
	t.Helper()
	return newFakeDispatcher()
}
