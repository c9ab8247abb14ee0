#!/bin/bash
# interleaved micro-benchmarks: base then new, one count each, ROUNDS rounds
cd /tmp/perf2
rm -f base-micro.txt new-micro.txt
for i in $(seq 1 ${ROUNDS:-6}); do
  for v in base new; do
    src=/tmp/perf2/base; [ $v = new ] && src=/work/wt-perf2
    (cd $src/segment && nice -n 10 /tmp/perf2/$v-segment.test -test.run '^$' -test.bench 'SegmentFind' -test.benchmem -test.benchtime 0.3s) >> $v-micro.txt
    (cd $src/engine && nice -n 10 /tmp/perf2/$v-engine.test -test.run '^$' -test.bench '^BenchmarkRead$' -test.benchmem -test.benchtime 0.3s) >> $v-micro.txt
  done
done
benchstat base-micro.txt new-micro.txt > benchstat.txt
echo DONE
