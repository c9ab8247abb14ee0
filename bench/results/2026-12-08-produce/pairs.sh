#!/bin/bash
# main and this branch alternately, 5 rounds (run as rounds 1-2 then 3-5), 100 B at 40 MB/s and 1 KiB at 60 MB/s, 30 s each.
# /tmp/logd-base-produce: `make build` of main 179ac28; /tmp/logd-new2: of this branch.
for r in 1 2 3 4 5; do
 for wl in "iot-100b 40" "max-throughput 60"; do
  set -- $wl
  for v in base new2; do
   ./run.sh /tmp/logd-$( [ $v = base ] && echo base-produce || echo $v ) $1 $2 30s /tmp/prod/f-$v-$1-$r prof
  done
 done
done
