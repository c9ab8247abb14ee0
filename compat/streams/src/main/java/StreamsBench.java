import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.WindowedSerdes;

/**
 * The Kafka Streams side of logd's streams benchmark (make streams-bench; the Go side is
 * streams/examples/streamsbench, which runs this class and the same topologies in Go):
 *
 * <pre>
 *   StreamsBench filter|windowed BOOTSTRAP APP_ID STATE_DIR IN_TOPIC OUT_TOPIC
 * </pre>
 *
 * Input records are String keys and Long (8-byte) values. filter: records with value ≥ 500 go
 * to OUT_TOPIC unchanged. windowed: records counted per key in 1-minute tumbling windows
 * without grace (store "counts"); every count update goes to OUT_TOPIC (time-windowed String
 * key → Long). The record cache is off (statestore.cache.max.bytes 0), as the Go library has
 * none, so both emit every update; commits every second; one stream thread; at least once.
 * "STATE RUNNING" on stdout when it runs; it stops on SIGTERM.
 */
public final class StreamsBench {
    private StreamsBench() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: StreamsBench filter|windowed BOOTSTRAP APP_ID STATE_DIR IN_TOPIC OUT_TOPIC");
            System.exit(2);
        }
        Properties props = new Properties();
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[1]);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, args[2]);
        props.put(StreamsConfig.STATE_DIR_CONFIG, args[3]);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 1000);
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        StreamsBuilder b = new StreamsBuilder();
        KStream<String, Long> in = b.stream(args[4], Consumed.with(Serdes.String(), Serdes.Long()));
        switch (args[0]) {
            case "filter" -> in.filter((k, v) -> v != null && v >= 500)
                .to(args[5], Produced.with(Serdes.String(), Serdes.Long()));
            case "windowed" -> in.groupByKey(Grouped.with(Serdes.String(), Serdes.Long()))
                .windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofMinutes(1)))
                .count(Materialized.as("counts"))
                .toStream()
                .to(args[5], Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, 60_000L), Serdes.Long()));
            default -> {
                System.err.println("unknown topology " + args[0]);
                System.exit(2);
            }
        }
        KafkaStreams streams = new KafkaStreams(b.build(), props);
        CountDownLatch done = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            System.out.println("STATE " + now);
            System.out.flush();
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                done.countDown();
            }
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> streams.close(Duration.ofSeconds(10))));
        streams.start();
        done.await();
    }
}
