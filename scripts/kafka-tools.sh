#!/usr/bin/env bash
# Fetches Apache Kafka's jars from Maven Central into tools/kafka/lib (once) and prints their
# classpath. Usage: kafka-tools.sh fetch | classpath | run MAIN-CLASS ARGS...
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
lib="$here/tools/kafka/lib"
case "${1:-}" in
fetch)
	if [ ! -f "$lib/.complete" ]; then
		mvn -q -B -f "$here/tools/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$lib" -DincludeScope=runtime
		touch "$lib/.complete"
	fi
	;;
classpath)
	echo "$lib/*"
	;;
run)
	shift
	"$0" fetch
	exec java -cp "$lib/*" "$@"
	;;
*)
	echo "usage: $0 fetch | classpath | run MAIN-CLASS ARGS..." >&2
	exit 2
	;;
esac
