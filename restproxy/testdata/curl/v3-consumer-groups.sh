#!/usr/bin/env bash
# Consumer groups: list, get, consumers, lags and the lag summary of group-1.
set -eu
step() { echo "== $1"; shift; curl -s -w '\n%{http_code}\n' "$@"; }

step list-groups -X GET "$REST/v3/clusters/$CLUSTER_ID/consumer-groups"
step get-group -X GET "$REST/v3/clusters/$CLUSTER_ID/consumer-groups/group-1"
step list-consumers -X GET "$REST/v3/clusters/$CLUSTER_ID/consumer-groups/group-1/consumers"
step list-lags -X GET "$REST/v3/clusters/$CLUSTER_ID/consumer-groups/group-1/lags"
step lag-summary -X GET "$REST/v3/clusters/$CLUSTER_ID/consumer-groups/group-1/lag-summary"
