#!/usr/bin/env bash
# Producing records: JSON, binary with headers to a partition, string, and a stream of
# records in one request; then bad input.
set -eu
step() { echo "== $1"; shift; curl -s -w '\n%{http_code}\n' "$@"; }

step produce-json -X POST -H "Content-Type: application/json" \
  --data '{"value":{"type":"JSON","data":{"foo":"bar"}}}' \
  "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1/records"
step produce-binary -X POST -H "Content-Type: application/json" \
  --data '{"partition_id":1,"headers":[{"name":"Header-1","value":"SGVhZGVyLTE="},{"name":"Header-2","value":"SGVhZGVyLTI="}],"key":{"type":"BINARY","data":"Zm9vYmFy"},"value":{"type":"BINARY","data":"YmF6cXV4"}}' \
  "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1/records"
step produce-string -X POST -H "Content-Type: application/json" \
  --data '{"key":{"type":"STRING","data":"my-key"},"value":{"type":"STRING","data":"Kafka"}}' \
  "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1/records"
step produce-stream -X POST -H "Content-Type: application/json" -H "Transfer-Encoding: chunked" \
  --data-binary '{"value":{"type":"JSON","data":1}} {"value":{"type":"JSON","data":2}} {"value":{"type":"JSON","data":3}}' \
  "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1/records"
step malformed -X POST -H "Content-Type: application/json" --data '{"value":' \
  "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1/records"
step unknown-topic -X POST -H "Content-Type: application/json" \
  --data '{"value":{"type":"JSON","data":1}}' \
  "$REST/v3/clusters/$CLUSTER_ID/topics/no-such-topic/records"
