package admin

import (
	"context"
	"strings"

	"hooktap/dispatch"
)

// TargetChecker is what a dispatcher offers to apply its webhook target policy
// ([dispatch] allow_targets, hooktap's own listeners) to URLs from the API, and to send the
// test connection under it. *dispatch.Dispatcher is one; a Deps.Dispatcher that is not
// gets the policy with an empty allow-list.
type TargetChecker interface {
	// CheckTarget returns why the policy refuses url, or nil.
	CheckTarget(url string) error
	// Ping sends the test connection to url under the policy.
	Ping(ctx context.Context, url string) dispatch.PingResult
}

// checkTarget returns the message for a URL the target policy refuses, "" when it is
// allowed (host names are checked again at each connection, on what they resolve to).
func (s *Server) checkTarget(u string) string {
	var err error
	if tc, ok := s.deps.Dispatcher.(TargetChecker); ok {
		err = tc.CheckTarget(u)
	} else {
		err = (*dispatch.TargetPolicy)(nil).CheckURL(u)
	}
	if err == nil {
		return ""
	}
	return strings.TrimPrefix(err.Error(), "dispatch: ")
}

// defaultPing is the test connection when Deps.Ping is nil: the dispatcher's, under its
// target policy, or dispatch.Ping.
func (s *Server) defaultPing() PingFunc {
	if tc, ok := s.deps.Dispatcher.(TargetChecker); ok {
		return tc.Ping
	}
	return dispatch.Ping
}
