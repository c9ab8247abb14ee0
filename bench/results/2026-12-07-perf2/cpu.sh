#!/bin/bash
# CPU seconds (user+sys, getrusage of the child) of the Find benchmarks at two fixed op counts;
# the difference over the extra ops is CPU per Find, setup cancelled out.
cd /tmp/perf2
for v in base new; do
  src=/tmp/perf2/base; [ $v = new ] && src=/work/wt-perf2
  for bm in 'SegmentFind$' 'SegmentFindLarge$'; do
    for n in 20000 80000; do
      for r in 1 2 3; do
        t=$( { cd $src/segment && /usr/bin/time -f "%U %S" nice -n 10 /tmp/perf2/$v-segment.test -test.run '^$' -test.bench "$bm" -test.benchtime ${n}x >/dev/null; } 2>&1 | tail -1)
        echo "$v $bm $n $t"
      done
    done
  done
done
