package bench

// StartKafka starts Apache Kafka from the jars in lib (tools/kafka/lib) as Compare does:
// KRaft, combined broker and controller, on a free loopback port, data under dir and its
// output in logPath. It returns once the broker answers Metadata; stop shuts it down (SIGTERM,
// then SIGKILL after a minute). Other packages' tests use it to run against the reference
// broker (the streams package's `make streams-kafka`).
func StartKafka(lib, dir, logPath string) (addr string, stop func(), err error) {
	p, err := startKafka(lib, dir, logPath)
	if err != nil {
		return "", nil, err
	}
	return p.addr, p.stop, nil
}
