#!/usr/bin/env bash
# The quick start's binary consumer: create an instance reading from the earliest offset,
# subscribe it to topic-1, read its records (polled until some come), commit, delete it.
set -eu
step() { echo "== $1"; shift; curl -s -w '\n%{http_code}\n' "$@"; }

step create-consumer -X POST -H "Content-Type: application/vnd.kafka.v2+json" \
  --data '{"name": "my_consumer_instance", "format": "binary", "auto.offset.reset": "earliest"}' \
  "$REST/consumers/my_binary_consumer"
step subscribe -X POST -H "Content-Type: application/vnd.kafka.v2+json" --data '{"topics":["topic-1"]}' \
  "$REST/consumers/my_binary_consumer/instances/my_consumer_instance/subscription"
step subscription -X GET -H "Accept: application/vnd.kafka.v2+json" \
  "$REST/consumers/my_binary_consumer/instances/my_consumer_instance/subscription"
# The first reads may come back empty while the consumer joins its group.
for i in $(seq 1 30); do
  out=$(curl -s -X GET -H "Accept: application/vnd.kafka.binary.v2+json" \
    "$REST/consumers/my_binary_consumer/instances/my_consumer_instance/records?timeout=1000")
  [ "$out" != "[]" ] && break
done
echo "== records"; printf '%s\n200\n' "$out"
step commit -X POST -H "Content-Type: application/vnd.kafka.v2+json" \
  "$REST/consumers/my_binary_consumer/instances/my_consumer_instance/offsets"
step delete-consumer -X DELETE -H "Content-Type: application/vnd.kafka.v2+json" \
  "$REST/consumers/my_binary_consumer/instances/my_consumer_instance"
