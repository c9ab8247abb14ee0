import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * A share group member (KIP-932) for logd's compat suite: Kafka's own KafkaShareConsumer with
 * explicit acknowledgement. Usage:
 *
 * <pre>ShareDriver BOOTSTRAP TOPIC GROUP MODE MAX_POLL_RECORDS IDLE_MS DEADLINE_MS</pre>
 *
 * Every record received is printed as "REC partition offset deliveryCount value". Modes:
 * accept (accept every record), poison (release records whose value is "poison", accept the
 * others), hold (acknowledge nothing: after the first records print "HELD n" and sleep, to be
 * killed), slow (accept, 100 ms of work per record, so that members overlap), first (accept the
 * first poll's records, commit and leave). It stops after IDLE_MS without records (once some came) or DEADLINE_MS, and prints
 * "DONE n".
 */
public class ShareDriver {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], group = args[2], mode = args[3];
        int maxPoll = Integer.parseInt(args[4]);
        long idleMs = Long.parseLong(args[5]), deadlineMs = Long.parseLong(args[6]);
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("group.id", group);
        p.put("client.id", "logd-compat-share");
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        p.put("share.acknowledgement.mode", "explicit");
        p.put("max.poll.records", Integer.toString(maxPoll));
        int n = 0;
        try (KafkaShareConsumer<String, String> c = new KafkaShareConsumer<>(p)) {
            c.subscribe(List.of(topic));
            long end = System.currentTimeMillis() + deadlineMs, last = 0;
            while (System.currentTimeMillis() < end && (last == 0 || System.currentTimeMillis() - last < idleMs)) {
                ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(200));
                for (ConsumerRecord<String, String> r : rs) {
                    System.out.println("REC " + r.partition() + " " + r.offset() + " " + r.deliveryCount().orElse((short) -1) + " " + r.value());
                    n++;
                    last = System.currentTimeMillis();
                    if (mode.equals("hold")) {
                        continue;
                    }
                    if (mode.equals("slow")) {
                        Thread.sleep(100);
                    }
                    boolean release = mode.equals("poison") && "poison".equals(r.value());
                    c.acknowledge(r, release ? AcknowledgeType.RELEASE : AcknowledgeType.ACCEPT);
                }
                System.out.flush();
                if (mode.equals("hold") && n > 0) {
                    System.out.println("HELD " + n);
                    System.out.flush();
                    Thread.sleep(deadlineMs);
                    return;
                }
                if (!rs.isEmpty()) {
                    c.commitSync();
                    if (mode.equals("first")) {
                        break;
                    }
                }
            }
        }
        System.out.println("DONE " + n);
    }
}
