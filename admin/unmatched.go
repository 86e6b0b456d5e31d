package admin

import (
	"net/http"
	"time"

	"hooktap/rules"
)

// UnmatchedReader reads the writes no rule matched; *rules.Classifier satisfies it. A
// [Deps.Classifier] that is one feeds hooktap_unmatched_writes_total and GET
// /rest/api/unmatched.
type UnmatchedReader interface {
	// Unmatched returns the unmatched writes, newest first.
	Unmatched() []rules.UnmatchedWrite
}

// unmatchedJSON is one row of GET /rest/api/unmatched.
type unmatchedJSON struct {
	Method     string `json:"method"`
	Route      string `json:"route"`
	Status     int    `json:"status"` // the upstream's status of the latest one
	Count      uint64 `json:"count"`
	Count3xx   uint64 `json:"count3xx"`
	LastSeen   int64  `json:"lastSeen"` // Unix ms
	LastSeenAt string `json:"lastSeenAt"`
}

func (s *Server) unmatchedReader() UnmatchedReader {
	u, _ := s.deps.Classifier.(UnmatchedReader)
	return u
}

// unmatched serves GET /rest/api/unmatched: {"results":[...],"size":n}, newest first; empty
// when the classifier does not count them.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	out := []unmatchedJSON{}
	if u := s.unmatchedReader(); u != nil {
		for _, m := range u.Unmatched() {
			out = append(out, unmatchedJSON{Method: m.Method, Route: m.Route, Status: m.LastStatus, Count: m.Count,
				Count3xx: m.Count3xx, LastSeen: m.LastSeen, LastSeenAt: time.UnixMilli(m.LastSeen).UTC().Format(time.RFC3339Nano)})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out, "size": len(out)})
}
