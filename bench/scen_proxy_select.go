package main

import (
	"strings"
)

// selectServers applies -servers: every target it does not name is stopped and marked
// absent, so the steps skip it and the tables say why. direct stays unless -closed, as the
// open-loop rates are fractions of its maximum.
func selectServers(s *Settings, targets []*proxyTarget) {
	if s.Servers == "" {
		return
	}
	want := map[string]bool{}
	for _, n := range strings.Split(s.Servers, ",") {
		want[serverKey(n)] = true
	}
	for _, t := range targets {
		k := serverKey(t.name)
		if want[k] || (k == "hooktap-alt" && want["hooktap"]) || (k == "direct" && !s.ClosedOnly) || t.absent != "" {
			continue
		}
		if t.proc != nil {
			t.proc.Stop()
			t.proc = nil
		}
		t.absent = "not selected (-servers)"
	}
}

// serverKey is a target's name as -servers spells it: lower case, "httputil" for Go's
// ReverseProxy.
func serverKey(name string) string {
	k := strings.ToLower(strings.TrimSpace(name))
	if strings.HasPrefix(k, "httputil") {
		return "httputil"
	}
	return k
}
