import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The Kafka Streams apps of logd's compatibility suite, one per run, chosen by the first
 * argument:
 *
 * <pre>
 *   StreamsApp wordcount BOOTSTRAP APP_ID STATE_DIR LINES_TOPIC OUT_TOPIC
 *   StreamsApp windowed  BOOTSTRAP APP_ID STATE_DIR EVENTS_TOPIC OUT_TOPIC
 *   StreamsApp join      BOOTSTRAP APP_ID STATE_DIR ORDERS_TOPIC CUSTOMERS_TOPIC OUT_TOPIC
 * </pre>
 *
 * The processing guarantee is at_least_once unless the system property "guarantee" names
 * another (-Dguarantee=exactly_once_v2): then every commit is a transaction of the app's
 * producer that holds the output, the changelog writes and the consumed offsets. The group
 * protocol is classic unless the system property "group.protocol" says streams (KIP-1071:
 * the broker assigns the tasks).
 *
 * wordcount: lines split into lower-case words, grouped by word (a repartition topic) and counted
 * into the key-value store "counts" (changelog APP_ID-counts-changelog, cleanup.policy=compact,
 * with segment.ms 100 and min.cleanable.dirty.ratio 0.01 so that the broker compacts it while the
 * test runs); every count update goes to OUT_TOPIC as word → count (Long).
 *
 * windowed: events counted per key in 1-minute tumbling windows by their record timestamps into
 * the window store "window-counts" (changelog cleanup.policy=compact,delete); every update goes
 * to OUT_TOPIC as "key@windowStartMs" → count (Long).
 *
 * join: orders (customer id → order id) joined with the customers table (customer id → name,
 * store "customers", changelog compacted); every order goes to OUT_TOPIC as customer id →
 * "orderId|name".
 *
 * The store cache is off and commits are frequent, so every update reaches the output. Lines on
 * stdout report progress for the test: "STATE <new state>" on every state change, followed on
 * RUNNING by "TASKS <task id>,..." (this instance's active tasks, sorted), "CLOSED
 * clean=<bool>" when close (leaving the group) returns after SIGTERM, "FAILED <exception>" on
 * an uncaught error.
 */
public final class StreamsApp {
    private StreamsApp() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 6) {
            System.err.println("usage: StreamsApp wordcount|windowed|join BOOTSTRAP APP_ID STATE_DIR TOPIC... OUT_TOPIC");
            System.exit(2);
        }
        String app = args[0];
        Properties props = new Properties();
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[1]);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, args[2]);
        props.put(StreamsConfig.STATE_DIR_CONFIG, args[3]);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
            System.getProperty("guarantee", StreamsConfig.AT_LEAST_ONCE));
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        // -Dgroup.protocol=streams runs the app with the streams group protocol (KIP-1071).
        props.put(StreamsConfig.GROUP_PROTOCOL_CONFIG, System.getProperty("group.protocol", "classic"));
        // An app killed with SIGKILL stays in the group until its session times out; 10 s
        // instead of 45 lets its restart get the tasks back within the test's patience.
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 10_000);
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        String[] topics = Arrays.copyOfRange(args, 4, args.length);

        StreamsBuilder builder = new StreamsBuilder();
        switch (app) {
            case "wordcount" -> wordCount(builder, topics);
            case "windowed" -> windowedCount(builder, topics);
            case "join" -> join(builder, topics);
            default -> {
                System.err.println("unknown app " + app);
                System.exit(2);
            }
        }

        KafkaStreams streams = new KafkaStreams(builder.build(), props);
        CountDownLatch done = new CountDownLatch(1);
        AtomicBoolean failed = new AtomicBoolean();
        streams.setStateListener((now, before) -> {
            System.out.println("STATE " + now);
            if (now == KafkaStreams.State.RUNNING) {
                System.out.println("TASKS " + streams.metadataForLocalThreads().stream()
                    .flatMap(t -> t.activeTasks().stream())
                    .map(t -> t.taskId().toString())
                    .sorted()
                    .collect(Collectors.joining(",")));
            }
            System.out.flush();
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                done.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            failed.set(true);
            System.out.println("FAILED " + e);
            System.out.flush();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // Leave the group (Streams stays in it by default), so that a restart gets its tasks
            // at once instead of after the old member's session timeout (45 s).
            boolean clean = streams.close(CloseOptions
                .groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                .withTimeout(Duration.ofSeconds(30)));
            System.out.println("CLOSED clean=" + clean);
            System.out.flush();
        }));
        streams.start();
        done.await();
        if (failed.get()) {
            System.exit(1);
        }
    }

    private static void wordCount(StreamsBuilder b, String[] t) {
        if (t.length != 2) {
            throw new IllegalArgumentException("wordcount wants LINES_TOPIC OUT_TOPIC");
        }
        KTable<String, Long> counts = b.<String, String>stream(t[0])
            .flatMapValues(line -> Arrays.asList(line.toLowerCase(Locale.ROOT).split("\\W+")))
            .filter((k, word) -> !word.isEmpty())
            .groupBy((k, word) -> word, Grouped.as("words"))
            .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("counts")
                .withValueSerde(Serdes.Long())
                .withLoggingEnabled(Map.of("segment.ms", "100", "min.cleanable.dirty.ratio", "0.01")));
        counts.toStream().to(t[1], Produced.with(Serdes.String(), Serdes.Long()));
    }

    private static void windowedCount(StreamsBuilder b, String[] t) {
        if (t.length != 2) {
            throw new IllegalArgumentException("windowed wants EVENTS_TOPIC OUT_TOPIC");
        }
        b.<String, String>stream(t[0])
            .groupByKey()
            .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMinutes(1), Duration.ofHours(1)))
            .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("window-counts")
                .withValueSerde(Serdes.Long()))
            .toStream()
            .map((w, n) -> KeyValue.pair(w.key() + "@" + w.window().start(), n))
            .to(t[1], Produced.with(Serdes.String(), Serdes.Long()));
    }

    private static void join(StreamsBuilder b, String[] t) {
        if (t.length != 3) {
            throw new IllegalArgumentException("join wants ORDERS_TOPIC CUSTOMERS_TOPIC OUT_TOPIC");
        }
        KTable<String, String> customers = b.table(t[1], Consumed.with(Serdes.String(), Serdes.String()),
            Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as("customers"));
        KStream<String, String> orders = b.stream(t[0]);
        orders.join(customers, (order, name) -> order + "|" + name).to(t[2]);
    }
}
