#!/usr/bin/env bash
# wake.sh BIN OUT: the e2e-latency workload (20 MB/s, one tailing consumer) against a fresh
# `BIN serve`, with a 5 s runtime trace taken mid-run and read by wakehops (the goroutine hops
# from an append waking a parked fetch to the writer sending its response). Extra environment
# (e.g. GOMAXPROCS) passes to the broker.
set -euo pipefail
bin=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
dir=$(mktemp -d /tmp/wake.XXXX)
port=$((20000 + RANDOM % 20000))
"$bin" serve --data-dir "$dir" --listen 127.0.0.1:$port --http 127.0.0.1:$((port + 1)) >"$out/broker.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
"$bin" bench run --bootstrap 127.0.0.1:$port --workload e2e-latency --duration 20s --warmup 5s \
	--metrics-url http://127.0.0.1:$((port + 1))/metrics --quiet-wait 1s --broker-pid $pid --out "$out/run" >"$out/bench.out" 2>"$out/bench.err" &
bpid=$!
# The trace starts 8 s into the measured run (the progress lines count the run's seconds).
until grep -q "^run  *8" "$out/bench.err" 2>/dev/null || ! kill -0 $bpid 2>/dev/null; do sleep 0.2; done
curl -s -o "$out/trace.out" "http://127.0.0.1:$((port + 1))/debug/pprof/trace?seconds=5"
wait $bpid
(cd "$here/wakehops" && go run . "$out/trace.out") | tee "$out/hops.txt"
grep -i "e2e\|wake" "$out/run/report.md" | head -12
