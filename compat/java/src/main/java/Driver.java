// Java client (org.apache.kafka:kafka-clients 4.x) driver for logd's compat suite.
// Usage: Driver BOOTSTRAP SCENARIO ARGS... (line protocol: compat/external_test.go).

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.regex.*;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class Driver {
    static String boot;
    static final Object out = new Object();

    static void emit(String s) {
        synchronized (out) {
            System.out.println(s);
            System.out.flush();
        }
    }

    static String hex(byte[] b) {
        if (b == null) return "-";
        if (b.length == 0) return "_";
        StringBuilder sb = new StringBuilder(b.length * 2);
        for (byte x : b) sb.append(String.format("%02x", x & 0xff));
        return sb.toString();
    }

    static byte[] unhex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        return b;
    }

    static String hdrs(Iterable<Header> hs) {
        List<String> parts = new ArrayList<>();
        for (Header h : hs) parts.add(hex(h.key().getBytes(StandardCharsets.UTF_8)) + ":" + hex(h.value()));
        return parts.isEmpty() ? "-" : String.join(",", parts);
    }

    static void emitRec(ConsumerRecord<byte[], byte[]> r) {
        emit("REC " + r.partition() + " " + r.offset() + " " + r.timestamp() + " " + hex(r.key()) + " " + hex(r.value()) + " " + hdrs(r.headers()));
    }

    // A tiny parser for the driver's JSON input lines: {"p":0,"k":"hex"|null,"v":..,"h":[["k","hex"]],"ts":0}
    static final Pattern NUM = Pattern.compile("\"(p|ts)\":(-?\\d+)");
    static final Pattern STR = Pattern.compile("\"(k|v)\":(null|\"([0-9a-f]*)\")");
    static final Pattern HDR = Pattern.compile("\\[\"((?:[^\"\\\\]|\\\\.)*)\",\"([0-9a-f]*)\"\\]");

    static String unescape(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                char n = s.charAt(++i);
                if (n == 'u') { sb.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16)); i += 4; }
                else if (n == 'n') sb.append('\n');
                else if (n == 't') sb.append('\t');
                else sb.append(n);
            } else sb.append(c);
        }
        return sb.toString();
    }

    static Properties producerProps(String codec, String acks) {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("compression.type", codec);
        p.put("acks", acks);
        p.put("enable.idempotence", acks.equals("all") ? "true" : "false");
        p.put("linger.ms", "5");
        p.put("max.request.size", "2000000");
        p.put("delivery.timeout.ms", "30000");
        p.put("request.timeout.ms", "15000");
        return p;
    }

    static void produce(String topic, String codec, String acks) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        List<String> lines = new ArrayList<>();
        for (String l; (l = in.readLine()) != null; ) if (!l.isBlank()) lines.add(l);
        List<String> errs = Collections.synchronizedList(new ArrayList<>());
        try (KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(producerProps(codec, acks))) {
            for (int i = 0; i < lines.size(); i++) {
                String l = lines.get(i);
                int p = -1;
                long ts = 0;
                Matcher m = NUM.matcher(l);
                while (m.find()) {
                    if (m.group(1).equals("p")) p = Integer.parseInt(m.group(2));
                    else ts = Long.parseLong(m.group(2));
                }
                byte[] k = null, v = null;
                m = STR.matcher(l);
                while (m.find()) {
                    byte[] b = m.group(3) == null ? null : unhex(m.group(3));
                    if (m.group(1).equals("k")) k = b; else v = b;
                }
                List<Header> hs = new ArrayList<>();
                int hi = l.indexOf("\"h\":[");
                if (hi >= 0) {
                    m = HDR.matcher(l.substring(hi + 5));
                    while (m.find()) hs.add(new RecordHeader(unescape(m.group(1)), unhex(m.group(2))));
                }
                final int idx = i;
                ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, p < 0 ? null : p, ts == 0 ? null : ts, k, v, hs);
                prod.send(r, (md, e) -> {
                    if (e != null) errs.add("record " + idx + ": " + e);
                    else emit("ACK " + idx + " " + md.partition() + " " + md.offset());
                });
            }
            prod.flush();
        }
        for (String e : errs) emit("ERR " + e.replace('\n', ' '));
        emit("DONE");
    }

    // telemetry: a producer (enable.metrics.push is on by default) that prints its KIP-714
    // client instance id (which waits for its GetTelemetrySubscriptions), then sends a record
    // every 100 ms for the given seconds, pushing its metrics meanwhile.
    static void telemetry(String topic, int seconds) throws Exception {
        Properties p = producerProps("none", "all");
        p.put("client.id", "telemetry-producer");
        try (KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(p)) {
            emit("ID " + prod.clientInstanceId(Duration.ofSeconds(30)));
            long end = System.currentTimeMillis() + seconds * 1000L;
            for (int i = 0; System.currentTimeMillis() < end; i++) {
                prod.send(new ProducerRecord<>(topic, ("t" + i).getBytes(StandardCharsets.UTF_8))).get();
                Thread.sleep(100);
            }
        }
        emit("DONE");
    }

    static KafkaConsumer<byte[], byte[]> consumer(Map<String, String> extra) {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("max.partition.fetch.bytes", String.valueOf(4 << 20));
        p.put("fetch.max.bytes", String.valueOf(16 << 20));
        p.putAll(extra);
        return new KafkaConsumer<>(p);
    }

    // consume reads count records from the beginning of every partition, or from offset from
    // (>= 0) when given.
    static void consume(String topic, int nparts, int count, long from) {
        try (KafkaConsumer<byte[], byte[]> c = consumer(Map.of())) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < nparts; i++) tps.add(new TopicPartition(topic, i));
            c.assign(tps);
            if (from < 0) c.seekToBeginning(tps);
            else for (TopicPartition tp : tps) c.seek(tp, from);
            int n = 0;
            long deadline = System.currentTimeMillis() + 30000;
            while (n < count && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    emitRec(r);
                    n++;
                }
            }
        }
        emit("DONE");
    }

    // committed reads partition 0 with isolation.level=read_committed: count records, then
    // two more seconds of polls, so a record past the last stable offset would show.
    static void committed(String topic, int count) {
        try (KafkaConsumer<byte[], byte[]> c = consumer(Map.of("isolation.level", "read_committed"))) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            int n = 0;
            long deadline = System.currentTimeMillis() + 30000;
            while (n < count && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    emitRec(r);
                    n++;
                }
            }
            long settle = System.currentTimeMillis() + 2000;
            while (System.currentTimeMillis() < settle) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) emitRec(r);
            }
        }
        emit("DONE");
    }

    static void longpoll(String topic) {
        try (KafkaConsumer<byte[], byte[]> c = consumer(Map.of("fetch.max.wait.ms", "10000"))) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seekToEnd(List.of(tp));
            c.position(tp);
            emit("READY");
            long deadline = System.currentTimeMillis() + 40000;
            while (System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(500));
                if (!rs.isEmpty()) {
                    emitRec(rs.iterator().next());
                    break;
                }
            }
        }
        emit("DONE");
    }

    static void times(String topic, String[] tss) {
        try (KafkaConsumer<byte[], byte[]> c = consumer(Map.of())) {
            TopicPartition tp = new TopicPartition(topic, 0);
            for (String ts : tss) {
                Map<TopicPartition, OffsetAndTimestamp> r = c.offsetsForTimes(Map.of(tp, Long.parseLong(ts)), Duration.ofSeconds(10));
                OffsetAndTimestamp o = r.get(tp);
                emit("OFT " + ts + " " + (o == null ? -1 : o.offset()));
            }
        }
    }

    static void admin(String topic) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        p.put("default.api.timeout.ms", "20000");
        p.put("request.timeout.ms", "15000");
        try (Admin a = Admin.create(p)) {
            a.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get(20, TimeUnit.SECONDS);
            emit("CREATED");
            TopicDescription d = null;
            for (int i = 0; i < 100; i++) {
                try {
                    d = a.describeTopics(List.of(topic)).allTopicNames().get(20, TimeUnit.SECONDS).get(topic);
                    if (d.partitions().size() == 3) break;
                } catch (ExecutionException e) {
                    if (i == 99) throw e;
                }
                Thread.sleep(100);
            }
            emit("DESCRIBED " + d.partitions().size());
            a.deleteTopics(List.of(topic)).all().get(20, TimeUnit.SECONDS);
            emit("DELETED");
            for (int i = 0; i < 100; i++) {
                if (!a.listTopics().names().get(20, TimeUnit.SECONDS).contains(topic)) {
                    emit("GONE");
                    return;
                }
                Thread.sleep(100);
            }
            emit("ERR topic still listed after delete");
        }
    }

    static volatile boolean stopping = false, holding = false;

    // Sets stopping when stdin says "stop" or ends, holding when it says "nocommit".
    static void watchStdin() {
        Thread t = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                for (String l; (l = in.readLine()) != null; ) {
                    if (l.trim().equals("stop")) break;
                    if (l.trim().equals("nocommit")) {
                        holding = true;
                        emit("HOLDING");
                    }
                }
            } catch (Exception e) {
                // stdin gone: stop as well
            }
            stopping = true;
        });
        t.setDaemon(true);
        t.start();
    }

    static void log(String s) {
        System.err.println(java.time.LocalTime.now() + " " + s);
    }

    // group: a consumer-group member (line protocol: compat/group_test.go). protocol is classic
    // (the client's default assignors, range first) or consumer (KIP-848, server-side assignment).
    // Auto-commit is off: commitSync of each polled batch after its records are printed, before
    // the next poll, so revocations inside poll never re-deliver a record.
    static void group(String topic, String group, String protocol) {
        Map<String, String> extra = new HashMap<>();
        extra.put("group.id", group);
        extra.put("group.protocol", protocol);
        extra.put("client.id", "logd-compat-java-" + protocol);
        extra.put("max.poll.interval.ms", "20000");
        extra.put("fetch.max.wait.ms", "500");
        if (protocol.equals("classic")) {
            extra.put("session.timeout.ms", "6000");
            extra.put("heartbeat.interval.ms", "1000");
        }
        watchStdin();
        TreeSet<Integer> owned = new TreeSet<>();
        Runnable show = () -> emit("ASSIGNED " + (owned.isEmpty() ? "-" : String.join(",", owned.stream().map(String::valueOf).toList())));
        try (KafkaConsumer<byte[], byte[]> c = consumer(extra)) {
            c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                public void onPartitionsRevoked(Collection<TopicPartition> ps) {
                    for (TopicPartition tp : ps) if (tp.topic().equals(topic)) owned.remove(tp.partition());
                    show.run();
                }
                public void onPartitionsAssigned(Collection<TopicPartition> ps) {
                    for (TopicPartition tp : ps) if (tp.topic().equals(topic)) owned.add(tp.partition());
                    show.run();
                }
                public void onPartitionsLost(Collection<TopicPartition> ps) {
                    onPartitionsRevoked(ps);
                }
            });
            while (!stopping) {
                Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    emitRec(r);
                    offs.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1, r.leaderEpoch(), ""));
                }
                if (offs.isEmpty() || holding) continue;
                try {
                    c.commitSync(offs, Duration.ofSeconds(15));
                    for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offs.entrySet())
                        emit("COMMITTED " + e.getKey().partition() + " " + e.getValue().offset());
                } catch (KafkaException e) {
                    log("commit: " + e);
                }
            }
        } // close leaves the group
        emit("DONE");
    }

    static Admin admin() {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        p.put("default.api.timeout.ms", "20000");
        p.put("request.timeout.ms", "15000");
        return Admin.create(p);
    }

    // groupadmin ACTION GROUP TOPIC: kafka-consumer-groups.sh equivalents with the AdminClient.
    //   list      → "GROUP id state type" for every consumer group
    //   describe  → "DESCRIBED id state members=N", then "MEMBER client-id parts" per member
    //   lag       → "LAG p committed end lag" per partition of TOPIC with a committed offset
    //   reset     → commits each partition's earliest offset (the group must be empty),
    //               then "OFFSET p committed" as listed afterwards
    //   delete    → "DELETED id", then "GONE id" once the group is no longer listed
    static void groupAdmin(String action, String group, String topic) throws Exception {
        try (Admin a = admin()) {
            switch (action) {
                case "list":
                    for (ConsumerGroupListing l : a.listConsumerGroups().all().get(20, TimeUnit.SECONDS))
                        emit("GROUP " + l.groupId() + " " + l.groupState().map(Object::toString).orElse("?") + " " + l.type().map(Object::toString).orElse("?"));
                    break;
                case "describe": {
                    ConsumerGroupDescription d = a.describeConsumerGroups(List.of(group)).all().get(20, TimeUnit.SECONDS).get(group);
                    emit("DESCRIBED " + d.groupId() + " " + d.groupState() + " members=" + d.members().size());
                    for (MemberDescription m : d.members()) {
                        TreeSet<Integer> ps = new TreeSet<>();
                        for (TopicPartition tp : m.assignment().topicPartitions()) if (tp.topic().equals(topic)) ps.add(tp.partition());
                        emit("MEMBER " + m.clientId() + " " + (ps.isEmpty() ? "-" : String.join(",", ps.stream().map(String::valueOf).toList())));
                    }
                    break;
                }
                case "lag": {
                    Map<TopicPartition, OffsetAndMetadata> com = a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(20, TimeUnit.SECONDS);
                    Map<TopicPartition, OffsetSpec> q = new HashMap<>();
                    for (TopicPartition tp : com.keySet()) if (tp.topic().equals(topic)) q.put(tp, OffsetSpec.latest());
                    Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends = a.listOffsets(q).all().get(20, TimeUnit.SECONDS);
                    for (TopicPartition tp : sorted(q.keySet())) {
                        long c = com.get(tp).offset(), e = ends.get(tp).offset();
                        emit("LAG " + tp.partition() + " " + c + " " + e + " " + (e - c));
                    }
                    break;
                }
                case "reset": {
                    int n = a.describeTopics(List.of(topic)).allTopicNames().get(20, TimeUnit.SECONDS).get(topic).partitions().size();
                    Map<TopicPartition, OffsetSpec> q = new HashMap<>();
                    for (int i = 0; i < n; i++) q.put(new TopicPartition(topic, i), OffsetSpec.earliest());
                    Map<TopicPartition, OffsetAndMetadata> to = new HashMap<>();
                    a.listOffsets(q).all().get(20, TimeUnit.SECONDS).forEach((tp, info) -> to.put(tp, new OffsetAndMetadata(info.offset())));
                    a.alterConsumerGroupOffsets(group, to).all().get(20, TimeUnit.SECONDS);
                    Map<TopicPartition, OffsetAndMetadata> com = a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(20, TimeUnit.SECONDS);
                    for (TopicPartition tp : sorted(com.keySet()))
                        if (tp.topic().equals(topic)) emit("OFFSET " + tp.partition() + " " + com.get(tp).offset());
                    break;
                }
                case "delete":
                    a.deleteConsumerGroups(List.of(group)).all().get(20, TimeUnit.SECONDS);
                    emit("DELETED " + group);
                    for (int i = 0; i < 100; i++) {
                        boolean listed = false;
                        for (ConsumerGroupListing l : a.listConsumerGroups().all().get(20, TimeUnit.SECONDS))
                            listed |= l.groupId().equals(group);
                        if (!listed) {
                            emit("GONE " + group);
                            return;
                        }
                        Thread.sleep(100);
                    }
                    emit("ERR group still listed after delete");
                    break;
                default:
                    throw new IllegalArgumentException("unknown groupadmin action " + action);
            }
        }
    }

    // txnProducerProps configures a transactional producer of byte arrays.
    static Properties txnProducerProps(String txnId) {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        p.put("transactional.id", txnId);
        p.put("max.block.ms", "30000");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        return p;
    }

    // txnoffsets: a transactional producer's consume-transform-produce calls that the
    // transaction coordinator answers on its own: initTransactions (InitProducerId),
    // sendOffsetsToTransaction (AddOffsetsToTxn, then TxnOffsetCommit to the group
    // coordinator) and commitTransaction (EndTxn).
    static void txnOffsets(String txnId, String group, String topic) throws Exception {
        try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(txnProducerProps(txnId))) {
            pr.initTransactions();
            emit("INIT");
            pr.beginTransaction();
            pr.sendOffsetsToTransaction(Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(5)),
                new ConsumerGroupMetadata(group));
            emit("OFFSETS");
            pr.commitTransaction();
            emit("COMMITTED");
        }
    }

    // eos: consume-transform-produce exactly once. A read_committed consumer of group reads
    // in; each poll's records are copied to out by a transactional producer that commits the
    // consumer's positions in the same transaction (sendOffsetsToTransaction with the
    // consumer's group metadata, KIP-447). Every third transaction is aborted and the
    // consumer rewound to its committed offsets. Ends once n input records were committed:
    // "DONE committed aborted" (transactions).
    static void eos(String in, String out, String group, String txnId, int n) throws Exception {
        Properties cp = new Properties();
        cp.put("bootstrap.servers", boot);
        cp.put("group.id", group);
        cp.put("enable.auto.commit", "false");
        cp.put("auto.offset.reset", "earliest");
        cp.put("isolation.level", "read_committed");
        cp.put("max.poll.records", "25");
        cp.put("key.deserializer", ByteArrayDeserializer.class.getName());
        cp.put("value.deserializer", ByteArrayDeserializer.class.getName());
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(cp); KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(txnProducerProps(txnId))) {
            pr.initTransactions();
            c.subscribe(List.of(in));
            int done = 0, committed = 0, aborted = 0, txn = 0;
            long deadline = System.currentTimeMillis() + 90_000;
            while (done < n) {
                if (System.currentTimeMillis() > deadline) {
                    throw new TimeoutException("only " + done + " of " + n + " input records committed");
                }
                ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(500));
                if (rs.isEmpty()) {
                    continue;
                }
                pr.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> r : rs) {
                    pr.send(new ProducerRecord<>(out, r.key(), r.value()));
                    offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                pr.sendOffsetsToTransaction(offsets, c.groupMetadata());
                if (++txn % 3 == 0) {
                    pr.abortTransaction();
                    aborted++;
                    Map<TopicPartition, OffsetAndMetadata> last = c.committed(c.assignment());
                    for (TopicPartition tp : c.assignment()) {
                        OffsetAndMetadata o = last.get(tp);
                        if (o == null) {
                            c.seekToBeginning(List.of(tp));
                        } else {
                            c.seek(tp, o.offset());
                        }
                    }
                    continue;
                }
                pr.commitTransaction();
                committed++;
                done += rs.count();
            }
            emit("DONE " + committed + " " + aborted);
        }
    }

    static List<TopicPartition> sorted(Collection<TopicPartition> tps) {
        List<TopicPartition> l = new ArrayList<>(tps);
        l.sort(Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition));
        return l;
    }

    public static void main(String[] args) {
        boot = args[0];
        String scen = args[1];
        try {
            switch (scen) {
                case "produce": produce(args[2], args[3], args[4]); break;
                case "consume": consume(args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]), args.length > 5 ? Long.parseLong(args[5]) : -1); break;
                case "longpoll": longpoll(args[2]); break;
                case "committed": committed(args[2], Integer.parseInt(args[3])); break;
                case "times": times(args[2], Arrays.copyOfRange(args, 3, args.length)); break;
                case "admin": admin(args[2]); break;
                case "group": group(args[2], args[3], args[4]); break;
                case "groupadmin": groupAdmin(args[2], args[3], args[4]); break;
                case "txnoffsets": txnOffsets(args[2], args[3], args[4]); break;
                case "eos": eos(args[2], args[3], args[4], args[5], Integer.parseInt(args[6])); break;
                case "telemetry": telemetry(args[2], Integer.parseInt(args[3])); break;
                default: throw new IllegalArgumentException("unknown scenario " + scen);
            }
        } catch (Throwable e) {
            Throwable c = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            emit("ERR " + c.getClass().getSimpleName() + ": " + String.valueOf(c.getMessage()).replace('\n', ' '));
            System.exit(1);
        }
        System.exit(0);
    }
}
