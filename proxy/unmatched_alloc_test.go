//go:build !race

package proxy

import "testing"

// A write to a path no rule mentions goes the pass-through way and is counted as unmatched:
// still nothing allocated but fasthttp's own streaming floor, once its route is in the table.
func TestUnmatchedWritePassThroughAllocatesOnlyFasthttpsFloor(t *testing.T) {
	floor := fasthttpStreamingFloor(t)
	cls := unmatchedClassifier(t)
	n := allocsThroughProxy(t, cls, "POST", postBody)
	if n > floor {
		t.Errorf("unmatched POST pass-through: %v allocs per request, want <= %v (fasthttp's own)", n, floor)
	}
	rows := cls.Unmatched()
	if len(rows) != 1 || rows[0].Route != "/rest/api/content/{id}?expand={}" || rows[0].Count < 2000 {
		t.Errorf("unmatched rows %+v", rows)
	}
}
