#!/usr/bin/env bash
# Installs the clients `make compat` drives, idempotently, with no prompts (run as root on a
# fresh machine, or as a user who already has kcat and python3-venv):
#   kcat (apt), confluent-kafka + kafka-python in compat/.venv (pip), kafkajs in compat/js
#   (npm ci), kafka-clients 4.x for compat/java and kafka-streams for compat/streams (Maven;
#   classpaths in their target/),
#   Apache Kafka's jars for kafka-consumer-groups (scripts/kafka-tools.sh; tools/kafka/lib).
# Go clients (franz-go, sarama, kafka-go) come with go.mod.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
export DEBIAN_FRONTEND=noninteractive

apt_missing=()
command -v kcat >/dev/null 2>&1 || apt_missing+=(kcat)
command -v java >/dev/null 2>&1 || apt_missing+=(default-jdk-headless)
command -v mvn >/dev/null 2>&1 || apt_missing+=(maven)
command -v node >/dev/null 2>&1 || apt_missing+=(nodejs npm)
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then apt_missing+=(python3-venv); fi
if [ ${#apt_missing[@]} -gt 0 ]; then
	echo "compat-deps: apt-get install ${apt_missing[*]}"
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
fi

# Python clients.
venv="$here/compat/.venv"
req="$here/compat/python/requirements.txt"
if [ ! -x "$venv/bin/python" ]; then
	python3 -m venv "$venv"
fi
if ! cmp -s "$req" "$venv/.requirements.installed"; then
	"$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
	cp "$req" "$venv/.requirements.installed"
fi

# kafkajs (zstd-napi builds its addon with node-gyp when no prebuilt binary can be fetched).
js="$here/compat/js"
if ! cmp -s "$js/package-lock.json" "$js/node_modules/.package-lock.json.installed"; then
	(cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
	cp "$js/package-lock.json" "$js/node_modules/.package-lock.json.installed"
fi

# Java client: resolve kafka-clients and its codecs; the test compiles Driver.java with javac.
jv="$here/compat/java"
if [ ! -s "$jv/target/classpath.txt" ] || [ "$jv/pom.xml" -nt "$jv/target/classpath.txt" ]; then
	mvn -q -B -f "$jv/pom.xml" dependency:build-classpath -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=runtime
fi
[ -s compat/connect/target/classpath.txt ] && [ ! compat/connect/pom.xml -nt compat/connect/target/classpath.txt ] || mvn -q -B -f compat/connect/pom.xml dependency:build-classpath -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=runtime # Kafka Connect's worker (compat/connect_test.go)
[ -s compat/streams/target/classpath.txt ] && [ ! compat/streams/pom.xml -nt compat/streams/target/classpath.txt ] || mvn -q -B -f compat/streams/pom.xml dependency:build-classpath -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=runtime # Kafka Streams apps (compat/streams_test.go)

# Apache Kafka's tools jar (kafka-consumer-groups' ConsumerGroupCommand) into tools/kafka/lib.
bash "$here/scripts/kafka-tools.sh" fetch

# Go clients.
go mod download github.com/twmb/franz-go github.com/IBM/sarama github.com/segmentio/kafka-go
echo "compat-deps: ready"
