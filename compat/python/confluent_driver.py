"""confluent-kafka-python (librdkafka) driver for logd's compat suite.
Usage: confluent_driver.py BOOTSTRAP SCENARIO ARGS... (protocol: compat/external_test.go)."""
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_END, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from common import emit, log, parts_string, read_input, rec_line, stop_signal

boot = sys.argv[1]
scen = sys.argv[2]
args = sys.argv[3:]


def consumer(**extra):
    conf = {"bootstrap.servers": boot, "group.id": "unused", "enable.auto.commit": False,
            "enable.auto.offset.store": False, "fetch.max.bytes": 8 << 20, "max.partition.fetch.bytes": 4 << 20}
    conf.update(extra)
    return Consumer(conf)


def emit_msg(m):
    ts = m.timestamp()[1]
    emit(rec_line(m.partition(), m.offset(), ts, m.key(), m.value(), m.headers()))


def produce(topic, codec, acks):
    recs = read_input()
    conf = {"bootstrap.servers": boot, "compression.type": codec, "acks": acks,
            "linger.ms": 5, "message.max.bytes": 2000000, "api.version.request": True}
    p = Producer(conf)
    errors = []

    def cb(i):
        def f(err, msg):
            if err is not None:
                errors.append("record %d: %s" % (i, err))
            else:
                off = msg.offset()
                emit("ACK %d %d %d" % (i, msg.partition(), off if off is not None and off >= 0 else -1))
        return f

    for i, (part, k, v, h, ts) in enumerate(recs):
        kw = {"key": k, "value": v, "on_delivery": cb(i)}
        if part >= 0:
            kw["partition"] = part
        if h:
            kw["headers"] = h
        if ts:
            kw["timestamp"] = ts
        while True:
            try:
                p.produce(topic, **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(30)
    for e in errors:
        emit("ERR " + e)
    if left:
        emit("ERR %d records not delivered" % left)
    emit("DONE")


def consume(topic, nparts, count, start=0):
    """Reads count records from offset start (default 0) of every partition."""
    c = consumer()
    c.assign([TopicPartition(topic, p, int(start)) for p in range(int(nparts))])
    n, deadline = 0, time.time() + 30
    while n < int(count) and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            emit("ERR %s" % m.error())
            break
        emit_msg(m)
        n += 1
    c.close()
    emit("DONE")


def committed(topic, count):
    """Reads partition 0 with isolation.level=read_committed: count records, then two more
    seconds of polls, so a record past the last stable offset would show."""
    c = consumer(**{"isolation.level": "read_committed"})
    c.assign([TopicPartition(topic, 0, 0)])
    n, deadline = 0, time.time() + 30
    settle = None
    while time.time() < deadline and (settle is None or time.time() < settle):
        m = c.poll(0.5)
        if m is not None and m.error():
            emit("ERR %s" % m.error())
            break
        if m is not None:
            emit_msg(m)
            n += 1
        if n >= int(count) and settle is None:
            settle = time.time() + 2
    c.close()
    emit("DONE")


def longpoll(topic):
    c = consumer(**{"fetch.wait.max.ms": 10000})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    c.assign([TopicPartition(topic, 0, hi)])
    deadline = time.time() + 40
    ready = False
    while time.time() < deadline:
        m = c.poll(0.2)
        if not ready:
            emit("READY")
            ready = True
        if m is None:
            continue
        if m.error():
            emit("ERR %s" % m.error())
            break
        emit_msg(m)
        break
    c.close()
    emit("DONE")


def times(topic, *tss):
    c = consumer()
    for ts in tss:
        r = c.offsets_for_times([TopicPartition(topic, 0, int(ts))], timeout=10)
        emit("OFT %s %d" % (ts, r[0].offset if r[0].offset >= 0 else -1))
    c.close()


def admin(topic):
    a = AdminClient({"bootstrap.servers": boot})
    for t, f in a.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)]).items():
        f.result(20)
    emit("CREATED")
    for _ in range(100):
        md = a.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == 3:
            break
        time.sleep(0.1)
    emit("DESCRIBED %d" % len(md.topics[topic].partitions))
    for t, f in a.delete_topics([topic]).items():
        f.result(20)
    emit("DELETED")
    for _ in range(100):
        if topic not in a.list_topics(timeout=10).topics:
            emit("GONE")
            return
        time.sleep(0.1)
    emit("ERR topic still listed after delete")


def group(topic, group_id, protocol):
    """Group member (line protocol: compat/group_test.go). Synchronous commit of each batch
    before the next consume; the eager range/roundrobin assignors of librdkafka."""
    if protocol != "classic":
        emit("ERR confluent-kafka member: only the classic group protocol is driven")
        sys.exit(2)
    stop, hold = stop_signal()
    c = Consumer({"bootstrap.servers": boot, "group.id": group_id, "client.id": "logd-compat-confluent",
                  "enable.auto.commit": False, "enable.auto.offset.store": False,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                  "heartbeat.interval.ms": 1000, "max.poll.interval.ms": 20000,
                  "fetch.wait.max.ms": 500})
    owned = set()

    def show():
        emit("ASSIGNED " + parts_string(owned))

    def on_assign(consumer, parts):
        owned.update(tp.partition for tp in parts if tp.topic == topic)
        show()

    def on_revoke(consumer, parts):
        owned.difference_update(tp.partition for tp in parts if tp.topic == topic)
        show()

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    while not stop.is_set():
        msgs = c.consume(num_messages=200, timeout=0.2)
        nexts = {}
        for m in msgs:
            if m.error():
                log("consume: %s" % m.error())
                continue
            emit_msg(m)
            nexts[m.partition()] = m.offset() + 1
        if nexts and not hold.is_set():
            try:
                res = c.commit(offsets=[TopicPartition(topic, p, o) for p, o in nexts.items()], asynchronous=False)
            except KafkaException as e:
                log("commit: %s" % e)
                continue
            for tp in res:
                if tp.error is None:
                    emit("COMMITTED %d %d" % (tp.partition, tp.offset))
                else:
                    log("commit %d: %s" % (tp.partition, tp.error))
    c.close()  # leaves the group
    emit("DONE")


def eos(src, dst, group_id, txn_id, n):
    """Consume-transform-produce exactly once: a read_committed consumer of group_id reads
    src; each batch is copied to dst in a transaction that commits the consumer's positions
    too (send_offsets_to_transaction with its group metadata). Every third transaction is
    aborted and the consumer rewound to its committed offsets. Ends once n input records
    were committed: "DONE committed aborted" (transactions)."""
    n = int(n)
    c = consumer(**{"group.id": group_id, "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
    p = Producer({"bootstrap.servers": boot, "transactional.id": txn_id, "transaction.timeout.ms": 30000})
    p.init_transactions(30)
    c.subscribe([src])
    done = committed = aborted = txn = 0
    deadline = time.time() + 90
    while done < n:
        if time.time() > deadline:
            raise Exception("only %d of %d input records committed" % (done, n))
        msgs = [m for m in c.consume(num_messages=25, timeout=0.5) if not m.error()]
        if not msgs:
            continue
        p.begin_transaction()
        nexts = {}
        for m in msgs:
            p.produce(dst, key=m.key(), value=m.value())
            nexts[m.partition()] = m.offset() + 1
        p.send_offsets_to_transaction([TopicPartition(src, q, o) for q, o in nexts.items()], c.consumer_group_metadata(), 30)
        txn += 1
        if txn % 3 == 0:
            p.abort_transaction(30)
            aborted += 1
            for tp in c.committed(c.assignment(), timeout=30):
                c.seek(TopicPartition(src, tp.partition, tp.offset if tp.offset >= 0 else 0))
            continue
        p.commit_transaction(30)
        committed += 1
        done += len(msgs)
    c.close()
    emit("DONE %d %d" % (committed, aborted))


try:
    {"produce": produce, "consume": consume, "longpoll": longpoll, "times": times, "admin": admin,
     "group": group, "committed": committed, "eos": eos}[scen](*args)
except Exception as e:
    emit("ERR %s" % e)
    sys.exit(1)
