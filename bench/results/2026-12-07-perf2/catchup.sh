#!/bin/bash
# BenchmarkFetchCatchUp (child broker, 256 MB prefilled, 4 catch-ups) on main's commit, then perf2
for src in /tmp/perf2/base /work/wt-perf2; do
  echo "== $src"
  (cd $src && nice -n 10 go test ./bench -run '^$' -bench 'FetchCatchUp' -fetch.prefill-mb 256 -benchtime 4x -count 1 2>&1 | grep -E 'Benchmark|ok|FAIL')
done
echo DONE
