#!/usr/bin/env bash
# Topic configs: list, get one, set one, batch alter (set and delete), reset one.
set -eu
step() { echo "== $1"; shift; curl -s -w '\n%{http_code}\n' "$@"; }

step list-configs -X GET "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1/configs"
step get-config -X GET "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1/configs/cleanup.policy"
step update-config -X PUT -H "Content-Type: application/json" --data '{"value":"delete"}' \
  "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1/configs/cleanup.policy"
step batch-alter -X POST -H "Content-Type: application/json" \
  --data '{"data":[{"name":"cleanup.policy","operation":"DELETE"},{"name":"retention.ms","value":"86400000"}]}' \
  "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1/configs:alter"
step reset-config -X DELETE "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1/configs/retention.ms"
step get-reset-config -X GET "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1/configs/retention.ms"
