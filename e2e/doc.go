// Package e2e proves hooktap in front of real wikis: MediaWiki, TiddlyWiki and WordPress,
// installed and started on loopback by backends.sh. Its tests build the hooktap binary, run it
// as a child process in front of each backend with that backend's pack (packs/*.toml), drive a
// seeded random workload of real writes through it, and compare the events delivered to a
// recording receiver with the backend's own record of what happened.
//
// The backend tests run only with HOOKTAP_E2E=1 (they install packages and start servers);
// without it they skip and say so. -e2e.seed (or HOOKTAP_E2E_SEED) replays a workload and
// -e2e.actions (or HOOKTAP_E2E_ACTIONS) sets its length.
//
// # Guarantees
//
// Every server a test starts runs in its own process group and is stopped by the test's
// cleanup, pass or fail. Actions are sequential, so each one's record is unambiguous.
package e2e
