#!/bin/bash
# Profile logd (fsync) under the transactions workload: metrics before/after, CPU profile.
set -e
cd /work/wt-txnbench
D=/tmp/txnprof; rm -rf $D; mkdir -p $D
nice bin/logd serve --data-dir $D/data --listen 127.0.0.1:19092 --http 127.0.0.1:19644 > $D/serve.log 2>&1 &
echo $! > $D/pid
for i in $(seq 60); do curl -sf 127.0.0.1:19644/readyz >/dev/null && break; sleep 0.5; done
curl -s 127.0.0.1:19644/metrics > $D/before.txt
( sleep 8; curl -s "127.0.0.1:19644/debug/pprof/profile?seconds=8" > $D/cpu.pprof ) & PROF=$!
nice bin/logd bench run --bootstrap 127.0.0.1:19092 --workload transactions --duration 15s --warmup 3s --no-ceiling --broker-pid $(cat $D/pid) --broker-name logd-fsync --out $D/run > $D/run.txt 2>&1
wait $PROF || true
curl -s 127.0.0.1:19644/metrics > $D/after.txt
kill $(cat $D/pid)
