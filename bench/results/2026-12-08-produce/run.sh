#!/bin/bash
# usage: run.sh BIN WORKLOAD RATE DURATION OUT [profile]
set -e
BIN=$1; WL=$2; RATE=$3; DUR=$4; OUT=$5; PROF=$6
DIR=$(mktemp -d /tmp/prod/data.XXXX)
PORT=$((20000 + RANDOM % 20000)); HPORT=$((PORT+1))
$BIN serve --data-dir $DIR --listen 127.0.0.1:$PORT --http 127.0.0.1:$HPORT > $OUT.log 2>&1 &
PID=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:$HPORT/readyz >/dev/null && break; sleep 0.3; done
cpu() { awk '{print $14+$15}' /proc/$PID/stat; }
if [ -n "$PROF" ]; then (sleep 8; curl -s -o $OUT.pprof "http://127.0.0.1:$HPORT/debug/pprof/profile?seconds=20") & fi
C0=$(cpu); R0=$(awk '/syscr/{print $2}' /proc/$PID/io); W0=$(awk '/syscw/{print $2}' /proc/$PID/io)
$BIN bench run --workload $WL --rate $RATE --duration $DUR --warmup 3s --bootstrap 127.0.0.1:$PORT --broker-pid $PID --no-ceiling --quiet-wait 0s --out $OUT.d > $OUT.out 2>&1 || true
C1=$(cpu); R1=$(awk '/syscr/{print $2}' /proc/$PID/io); W1=$(awk '/syscw/{print $2}' /proc/$PID/io)
wait_prof=$(jobs -p | grep -v $PID || true)
sleep 1
echo "broker_cpu_ticks=$((C1-C0)) syscr=$((R1-R0)) syscw=$((W1-W0))" >> $OUT.out
kill $PID; wait $PID || true
rm -rf $DIR
