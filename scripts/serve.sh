#!/bin/sh
# serve.sh — the README's first command: build bin/logd (quick when nothing changed), then
# become `logd serve` (exec), so Ctrl-C and SIGTERM reach the broker itself: it stops cleanly
# and the exit status is its own. Arguments go to `logd serve` (see `bin/logd serve --help`).
# LOGD_BIN names another output path for the binary.
set -e
cd "$(dirname "$0")/.."
bin="${LOGD_BIN:-bin/logd}"
echo "building $bin (about a minute the first time, a second after that)..." >&2
go build -o "$bin" ./cmd/logd
exec "$bin" serve "$@"
