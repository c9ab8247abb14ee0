//go:build compat

package streams_test

import (
	"os"
	"path/filepath"

	"github.com/logd/logd/bench"
)

// With the compat tag the suite runs against Apache Kafka (`make streams-kafka`, which
// `make compat` runs): a KRaft broker started from the jars in $STREAMS_KAFKA_LIB (default
// tools/kafka/lib) exactly as bench's comparison starts it, unless STREAMS_BROKERS names a
// cluster already.
func init() {
	startReference = func(dir string) ([]string, func(), error) {
		lib := os.Getenv("STREAMS_KAFKA_LIB")
		if lib == "" {
			lib = filepath.Join("..", "tools", "kafka", "lib")
		}
		addr, stop, err := bench.StartKafka(lib, filepath.Join(dir, "kafka"), filepath.Join(dir, "kafka.log"))
		if err != nil {
			return nil, nil, err
		}
		return []string{addr}, stop, nil
	}
}
