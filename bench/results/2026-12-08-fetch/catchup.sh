#!/usr/bin/env bash
# catchup.sh BIN OUT [BACKLOG_MB]: one fixed catch-up against a fresh `BIN serve`, with the
# broker's CPU, context switches and syscalls counted (perf stat) over the measured consume
# phase only, and syscalls by name (strace -c is
# too slow for a throughput run; perf's syscalls:sys_enter_* tracepoints count them).
set -euo pipefail
bin=$1 out=$2 backlog=${3:-1000}
mkdir -p "$out"
dir=$(mktemp -d /tmp/catchup.XXXX)
port=$((20000 + RANDOM % 20000))
"$bin" serve --data-dir "$dir" --listen 127.0.0.1:$port --http 127.0.0.1:$((port + 1)) >"$out/broker.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
"$bin" bench run --bootstrap 127.0.0.1:$port --workload catch-up --backlog-mb "$backlog" --duration 120s \
	--no-ceiling --broker-pid $pid --out "$out/run" >"$out/bench.out" 2>"$out/bench.err" &
bpid=$!
# Counted in 100 ms intervals from the backlog's start; the backlog's end is the idle gap of
# the bench's 2 s pause, and catchup-sum.py sums the intervals after it (the consume phase).
until grep -q producing "$out/bench.err" 2>/dev/null || ! kill -0 $bpid 2>/dev/null; do sleep 0.1; done
perf stat -I 100 -x, -o "$out/perf.csv" -p $pid -e task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_sendfile64,syscalls:sys_enter_writev,syscalls:sys_enter_sendmsg,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex,syscalls:sys_enter_read,syscalls:sys_enter_setsockopt &
ppid=$!
wait $bpid
kill -INT $ppid; wait $ppid || true
cat "$out/bench.out"
grep -h "consume\|CPU" "$out/run/report.md" | head -20
python3 "$(dirname "$0")/catchup-sum.py" "$out/perf.csv" "$out/run/report.json" | tee "$out/summary.txt"
