// Command bench is hooktap's benchmark harness: `go run ./bench <scenario> [flags]`.
//
// Scenarios (each starts everything it needs on loopback, runs, stops it and prints one
// Markdown table; -out DIR also writes the raw results as JSON and an SVG chart):
//
//	proxy     GET and POST pass-through: hooktap vs direct to the upstream vs Go's
//	          httputil.ReverseProxy vs nginx and HAProxy (when their binaries are on PATH);
//	          closed-loop maximum throughput, then open-loop fixed-rate runs at 25/50/75 % of
//	          the direct maximum, latency from the intended send time into an HDR histogram;
//	          CPU time per request of the proxy and of the upstream in the closed-loop steps
//	          (utime+stime of each process group from /proc, see cputime.go), also as a ratio
//	          to nginx's: steadier than req/s on a machine other work shares
//	tap       writes that match rules (events produced, memory / disk queue) vs the same
//	          writes with no rules: throughput ratio, added latency, end-to-end latency;
//	          CPU time of the hooktap process (/proc) per write, closed loop and at 50 %
//	          load, and per delivered event, in all and above the untapped write; a rule
//	          whose event no webhook wants (per write above the untapped one); latency at
//	          half of each tapped variant's own maximum, paired with the untapped variant
//	          at the same rate (enqueue's added p99 where the tapped path is not overloaded)
//	dispatch  deliveries/s to 1, 10, 100 receivers as a ratio of the receivers' own ceiling,
//	          allocations and CPU time (getrusage) per delivery, latency from enqueue to the
//	          receiver's request
//	classify  ns/op and allocs/op of the classifier (testing.Benchmark)
//	backlog   receiver down while N events are accepted, then up: peak memory, drain rate
//	all       every scenario in turn
//
// # Processes
//
// The servers of the proxy and tap scenarios (upstream, hooktap, the httputil baseline) are
// child processes of this binary (re-executed with the hidden first argument "__serve"), and
// nginx/HAProxy are started by it with configs written to a temporary directory, so that the
// load generator (this process) can be pinned to other CPUs than the servers when the
// machine has more than two; on two CPUs or fewer everything shares them and the report
// says so. hooktap is wired in the child exactly as main.go wires it: config.Load,
// rules.Compile, dispatch.New, rules.NewClassifier, proxy.New. The dispatch, classify and
// backlog scenarios run in this process, because they measure allocations and memory of the
// dispatcher itself.
//
// # Method
//
// Every measurement is repeated -runs times; tables give the median, the spread (min–max)
// and, first, the ratio to a baseline measured in the same run. Open-loop runs use a fixed
// schedule of intended send times and record each latency from its intended time, so a
// stalled server is charged for every request it delayed (no coordinated omission).
//
// # Profiling the tapped path
//
// Two ways, the first in one process (everything on loopback: client, hooktap's proxy and
// classifier, the queue, the dispatcher, a fasthttp upstream and webhook receiver), the
// second with hooktap in its own process under the harness's load:
//
//	# in process: parallel tapped writes, each one event, until every event is delivered
//	go test -run XXX -bench 'TappedLoad/memory' -benchtime 20000x -cpuprofile /tmp/tap.cpu .
//	go test -run XXX -bench 'TappedLoad/memory' -benchtime 20000x -memprofile /tmp/tap.mem -memprofilerate 1 .
//	go tool pprof -top hooktap.test /tmp/tap.cpu                # flat
//	go tool pprof -top -cum -focus 'hooktap/' hooktap.test /tmp/tap.cpu
//	go tool pprof -sample_index=alloc_objects -top hooktap.test /tmp/tap.mem
//	# the same with the disk queue (embedded JetStream): -bench 'TappedLoad/disk'
//
//	# under the harness: the tapped hooktap children (rules, memory and disk queue)
//	go run ./bench tap -cpuprofile /tmp/tap.cpu -memprofile /tmp/tap.mem
//	go tool pprof -top /tmp/tap.cpu.tap1                        # static upstream, memory queue
//	go tool pprof -top /tmp/tap.cpu.tap1.disk                   # static upstream, disk queue
//	go tool pprof -top /tmp/tap.cpu.tap1.disk.nosub             # the same rule, no subscriber
//	go tool pprof -sample_index=alloc_objects -top /tmp/tap.mem.tap2   # the sample wiki, shipped rules
//
// Take CPU and allocation profiles in separate runs: -memprofilerate 1 records a stack for
// every allocation, which shows in the CPU profile. The exact counts are tests, not
// profiles: TestTappedPathAllocs and TestMissedWriteAllocs (tappath_alloc_test.go) hold a
// tapped exchange end to end, and a write no rule matches, to fasthttp's own single
// allocation per request body (the io.LimitReader of requestStream.discard, fasthttp
// v1.78); BenchmarkTappedExchange times one exchange alone, BenchmarkJetStreamCycle
// (./dispatch) one event through the durable queue alone.
//
// What the profiles show (December 2026, 2-core machine shared with other work,
// BenchmarkTappedLoad, 20000 writes; shares of all samples, cum):
//
//   - memory queue: 53 % is the kernel's loopback reads and writes (Syscall6, flat); the
//     delivery attempt 23 % (its POST and the receiver's answer, almost all syscalls), the
//     proxy's tapped exchange 19 % of which the upstream round trip 15 %; classification
//     (Classifier.After) 3.8 %, signing and headers (prepare) 2.1 %, Enqueue 1.3 %, the
//     memory queue's Publish and Fetch 0.8 % each. 1 allocation per exchange in all, fasthttp's.
//   - memory queue, after a webhook's workers fetch for themselves (no fetcher goroutine
//     and hand-off; 40000 writes, A/B on the loaded machine): syscalls 58 %, the proxy's
//     handler 24 %, the delivery side 21 % (the attempt 20 %, its POST 16 %, prepare 3.1 %,
//     Fetch 1.0 %), classification 5.2 %, Publish and Enqueue 0.7 % each. The fetcher it
//     replaced was 1.2 % on its own stack; what a hand-off costs is mostly the scheduler's
//     (park_m and schedule, about 4 % in both) and the kernel's wake-up of an idle thread,
//     which the profile charges to Syscall6. BenchmarkDispatchPaced (./dispatch: each event
//     alone, 5000 deliveries/s) went from 51.5 to 47.7 cpu-µs per delivery (medians of 4)
//     with 1 webhook and from 46.4 to 43.0 with 10; saturated throughput did not change
//     beyond the machine's noise.
//   - disk queue: syscalls 41 %; the tapped exchange 15 %, the attempt 11 %, the embedded
//     server's stream loop 5.6 % (fileStore.StoreMsg 3.3 %) and client read loops 3.3 %;
//     classification 3.9 %, prepare 2.7 %, Enqueue 2.1 %, the JetStream queue's Publish,
//     Fetch and Ack 1.5 % each. About 47 allocations per event, all in nats.go and
//     nats-server (a *nats.Msg for each message the client reads, the server's per-message
//     bookkeeping); hooktap's own share is 0 in the steady state.
//   - disk queue, after acks were committed in groups (40000 writes): hooktap's side of
//     Ack fell from 3 % to 0.5 %; what the embedded server does per event is now most of
//     the queue's cost: its stream loop 7 % (StoreMsg's pwrite per message, the store does
//     not flush asynchronously without a replicated log), processing acks 5 % (interest
//     retention removes each acked message, and fileStore.RemoveMsg writes a tombstone
//     with a pwrite per removal), its client read loop 4.8 %, pull handling 2.3 %. The
//     client's Publish is 2.5 %, Fetch 0.9 %.
//   - disk queue, one event at a time (BenchmarkJetStreamCycle, ./dispatch): 57 % of the
//     samples were the ack's removal of the stream's only message: with interest retention
//     the file store then drops its emptied last block and creates a new block file
//     (fileStore.removeMsgBlock -> newMsgBlockForWrite: openat, tombstone pwrite, close,
//     unlinkat per event; system time was 2/3 of the process's). The embedded stream now
//     holds a keeper message so that its last block never empties (dispatch/jetstream_keep.go):
//     a cycle went from ~165 to ~62 µs of process CPU and from 114 to 91 allocations. Under
//     parallel load (TappedLoad) the stream seldom empties, so there what is left is the
//     per-event work: StoreMsg's pwrite, the removal's tombstone pwrite, the loopback
//     messages (publish and its ack, delivery, ack and its confirmation) and the goroutine
//     hand-offs of each. Limits retention with a periodic purge to the consumers' ack floors
//     (no per-ack removal at all) measured ~72 µs wall per serial cycle against the keeper's
//     ~130 µs, but it was not taken: acks are then only in the consumer state, which the
//     server writes up to 100 ms later, so a kill -9 could deliver again events whose Ack had
//     returned (today only with several webhooks on one event), and one delivery waiting
//     for a retry would pin every later event in the stream against max_bytes.
//
// So hooktap's own code (classification, enqueue, signing) is under a tenth of the CPU:
// what costs is the number of loopback messages per event (client, upstream, receiver, and
// for the disk queue publish + ack, pull, delivery, ack + reply) and the goroutine
// hand-offs each one wakes.
//
// # Profiling the pass-through path
//
// hooktap's CPU per request against nginx's, and what it is spent on:
//
//	# quick and paired: closed loop only, hooktap and nginx alone (50 s for 3 runs)
//	go run ./bench proxy -closed -servers hooktap,nginx -duration 2s -runs 3 -cpuprofile /tmp/proxy.cpu
//	go tool pprof -top /tmp/proxy.cpu
//	# A/B of two builds in the same steps: build the other one first
//	go build -o /tmp/bench-old ./bench     # at the other commit
//	go run ./bench proxy -closed -servers hooktap,nginx -alt /tmp/bench-old -runs 6 -out /tmp/ab
//	# syscalls and context switches per request, exact whatever the load (root, perf)
//	perf stat -e raw_syscalls:sys_enter,sched:sched_switch,syscalls:sys_enter_read -p PID -- sleep 3
//
// On a machine other work shares, the harness resolves about ±10 % per step: a change worth a
// few per cent shows in a microbenchmark (BenchmarkIdleConnReadWrite, BenchmarkClock in
// ./proxy) or in exact counts, not in the table.
//
// What it showed (December 2026, 2-core machine shared with other work, GET of 1 KiB through
// each proxy, 64 connections, wrk as the client, perf stat and perf record on the proxy's
// processes):
//
//   - syscalls per request: hooktap 6.3 (2 writes, 4 reads of which 2 find no data yet and
//     return EAGAIN, 0.16 epoll_pwait, 0.1 futex, 0.1 nanosleep), 0.28 context switches;
//     nginx 5.2 (2 writev, 2 recvfrom, 1 getsockopt that checks the pooled upstream
//     connection, 0.2 epoll_wait), 0.20 context switches.
//   - kernel time per request is the same for both (about 21 µs under perf, most of it the
//     loopback TCP send path, which runs the receiver's side too); the difference is user
//     space: hooktap about 8 µs (fasthttp 8 % of all samples, the Go runtime's scheduler,
//     netpoller and deadline timers 7 %, syscall entry and exit 4.4 %, hooktap's own code
//     2.6 %, clock reads 2.3 %), nginx about 5.4 µs. Since then the upstream connection
//     reads the monotonic clock alone and the client connection's deadlines move only when
//     they must (lazyConn in ./proxy): about 0.5 µs less per GET by their microbenchmarks.
//   - the two EAGAIN reads are Go's: net.Conn's Read always tries the read before it waits on
//     the poller (internal/poll clears the readiness it saw before that first try, so it
//     cannot be skipped safely from outside), and in a request/response protocol the answer
//     is never there yet right after the request was written, on either side of the proxy.
//     nginx reads only what epoll reported. Closing that gap needs an event loop over epoll
//     of its own instead of Go's netpoller, or a pass-through that relays response heads
//     without parsing them, neither of which fasthttp offers.
//
// # Concurrency
//
// Scenarios run one after the other; within one, load-generator workers are goroutines that
// own their request, response and histogram, merged once at the end of a step.
package main
