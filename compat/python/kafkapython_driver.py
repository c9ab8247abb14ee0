"""kafka-python driver for logd's compat suite.
Usage: kafkapython_driver.py BOOTSTRAP SCENARIO ARGS... (protocol: compat/external_test.go)."""
import sys
import time

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError

from common import emit, log, parts_string, read_input, rec_line, stop_signal

boot = sys.argv[1]
scen = sys.argv[2]
args = sys.argv[3:]


def consumer(**extra):
    conf = dict(bootstrap_servers=boot, group_id=None, enable_auto_commit=False,
                fetch_max_bytes=8 << 20, max_partition_fetch_bytes=4 << 20, consumer_timeout_ms=1000)
    conf.update(extra)
    return KafkaConsumer(**conf)


def emit_msg(m):
    emit(rec_line(m.partition, m.offset, m.timestamp, m.key, m.value, m.headers))


def produce(topic, codec, acks):
    recs = read_input()
    p = KafkaProducer(bootstrap_servers=boot, compression_type=None if codec == "none" else codec,
                      acks=acks if acks == "all" else int(acks), linger_ms=5, max_request_size=2000000)
    futs = []
    for i, (part, k, v, h, ts) in enumerate(recs):
        kw = {"key": k, "value": v, "headers": h or None}
        if part >= 0:
            kw["partition"] = part
        if ts:
            kw["timestamp_ms"] = ts
        futs.append(p.send(topic, **kw))
    p.flush(30)
    for i, f in enumerate(futs):
        try:
            md = f.get(30)
            emit("ACK %d %d %d" % (i, md.partition, md.offset))
        except KafkaError as e:
            emit("ERR record %d: %r" % (i, e))
    p.close()
    emit("DONE")


def consume(topic, nparts, count, start=0):
    """Reads count records from offset start (default 0) of every partition."""
    c = consumer()
    parts = [TopicPartition(topic, p) for p in range(int(nparts))]
    c.assign(parts)
    for tp in parts:
        c.seek(tp, int(start))
    n, deadline = 0, time.time() + 30
    while n < int(count) and time.time() < deadline:
        for tp, msgs in c.poll(500).items():
            for m in msgs:
                emit_msg(m)
                n += 1
    c.close()
    emit("DONE")


def longpoll(topic):
    c = consumer(fetch_max_wait_ms=10000)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_end(tp)
    c.position(tp)
    emit("READY")
    deadline = time.time() + 40
    while time.time() < deadline:
        got = c.poll(500)
        for msgs in got.values():
            for m in msgs:
                emit_msg(m)
                c.close()
                emit("DONE")
                return
    c.close()
    emit("DONE")


def times(topic, *tss):
    c = consumer()
    tp = TopicPartition(topic, 0)
    for ts in tss:
        r = c.offsets_for_times({tp: int(ts)})
        o = r.get(tp)
        emit("OFT %s %d" % (ts, o.offset if o is not None else -1))
    c.close()


def admin(topic):
    a = KafkaAdminClient(bootstrap_servers=boot)
    a.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    emit("CREATED")
    n = 0
    for _ in range(100):
        d = a.describe_topics([topic])
        if d and d[0].get("error_code", 0) == 0 and len(d[0]["partitions"]) == 3:
            n = 3
            break
        time.sleep(0.1)
    emit("DESCRIBED %d" % n)
    a.delete_topics([topic])
    emit("DELETED")
    for _ in range(100):
        if topic not in a.list_topics():
            emit("GONE")
            a.close()
            return
        time.sleep(0.1)
    emit("ERR topic still listed after delete")


def group(topic, group_id, protocol):
    """Group member (line protocol: compat/group_test.go). Synchronous commit of each polled
    batch before the next poll; kafka-python's default range/roundrobin assignors (eager)."""
    if protocol != "classic":
        emit("ERR kafka-python member: only the classic group protocol is driven")
        sys.exit(2)
    stop, hold = stop_signal()
    c = KafkaConsumer(bootstrap_servers=boot, group_id=group_id, client_id="logd-compat-kafka-python",
                      enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=6000,
                      heartbeat_interval_ms=1000, max_poll_interval_ms=20000, fetch_max_wait_ms=500)
    owned = set()

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            owned.difference_update(tp.partition for tp in revoked if tp.topic == topic)
            emit("ASSIGNED " + parts_string(owned))

        def on_partitions_assigned(self, assigned):
            owned.update(tp.partition for tp in assigned if tp.topic == topic)
            emit("ASSIGNED " + parts_string(owned))

        def on_partitions_lost(self, lost):
            self.on_partitions_revoked(lost)

    c.subscribe([topic], listener=Listener())
    while not stop.is_set():
        got = c.poll(timeout_ms=200)
        nexts = {}
        for tp, msgs in got.items():
            for m in msgs:
                emit_msg(m)
                nexts[tp] = m.offset + 1
        if nexts and not hold.is_set():
            try:
                c.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in nexts.items()})
            except KafkaError as e:
                log("commit: %r" % e)
                continue
            for tp, o in nexts.items():
                emit("COMMITTED %d %d" % (tp.partition, o))
    c.close()  # leaves the group
    emit("DONE")


try:
    {"produce": produce, "consume": consume, "longpoll": longpoll, "times": times, "admin": admin,
     "group": group}[scen](*args)
except Exception as e:  # report everything as one line
    emit("ERR %s: %s" % (type(e).__name__, e))
    sys.exit(1)
