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
//	          writes with no rules: throughput ratio, added latency, end-to-end latency
//	dispatch  deliveries/s to 1, 10, 100 receivers as a ratio of the receivers' own ceiling,
//	          allocations per delivery, latency from enqueue to the receiver's request
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
// says so. hooktap is wired in the child exactly as main.go wires it: rules.Load,
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
// # Concurrency
//
// Scenarios run one after the other; within one, load-generator workers are goroutines that
// own their request, response and histogram, merged once at the end of a step.
package main
