// Package bench holds logd's macro-benchmarks: Kafka clients' traffic through the real socket
// path (socket_test.go), measured with the lean generator in perf/loadgen.
//
// By default each benchmark builds cmd/logd and runs `logd serve` as a child process, so the
// broker's CPU (utime+stime from /proc/PID/stat), resident memory (VmRSS) and startup time are
// the broker's alone, not shared with the generator. -inproc runs the broker inside the test
// binary instead (broker.New + net/server on 127.0.0.1), which is what `go test -cpuprofile`
// needs to profile it:
//
//	make bench-socket                                   # every benchmark, -count=5, bench-socket.out
//	go test -run '^$' -bench 'Produce/1KB-6p-acks1' -inproc -cpuprofile cpu.out ./bench
//	go tool pprof -top bench.test cpu.out
//
// Units: MB is 10^6 bytes of record values (produce) or of record batches (fetch). Every
// benchmark also reports other-CPU-%: the share of the machine's CPUs used during the run by
// processes other than the broker and the benchmark, so a number measured on a busy machine
// says so.
package bench
