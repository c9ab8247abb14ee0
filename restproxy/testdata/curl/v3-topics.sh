#!/usr/bin/env bash
# Clusters and topics: list clusters, create a topic, list and get topics and partitions.
set -eu
step() { echo "== $1"; shift; curl -s -w '\n%{http_code}\n' "$@"; }

step list-clusters -X GET "$REST/v3/clusters"
step create-topic -X POST -H "Content-Type: application/json" \
  --data '{"topic_name":"topic-1","partitions_count":6,"replication_factor":1,"configs":[{"name":"cleanup.policy","value":"compact"}]}' \
  "$REST/v3/clusters/$CLUSTER_ID/topics"
step list-topics -X GET "$REST/v3/clusters/$CLUSTER_ID/topics"
step get-topic -X GET "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1"
step list-partitions -X GET "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1/partitions"
step get-partition -X GET "$REST/v3/clusters/$CLUSTER_ID/topics/topic-1/partitions/0"
step unknown-topic -X GET "$REST/v3/clusters/$CLUSTER_ID/topics/no-such-topic"
