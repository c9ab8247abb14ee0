// kafkajs driver for logd's compat suite.
// Usage: node driver.js BOOTSTRAP SCENARIO ARGS... (line protocol: compat/external_test.go).
//
// kafkajs has no group-less consumer: "consume" and "longpoll" use kafkajs' own cluster and
// broker objects (the ones its consumer uses) to send Fetch requests for assigned partitions,
// and its record batch decoder (with the codecs below) to decode them.
'use strict'

const readline = require('readline')
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const lz4 = require('lz4js')
const zstd = require('zstd-napi')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  async compress (encoder) { return Buffer.from(lz4.compress(encoder.buffer)) },
  async decompress (buffer) { return Buffer.from(lz4.decompress(buffer)) }
})
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  async compress (encoder) { return zstd.compress(encoder.buffer) },
  async decompress (buffer) { return zstd.decompress(buffer) }
})

const [boot, scen, ...args] = process.argv.slice(2)
const kafka = new Kafka({ clientId: 'logd-compat', brokers: [boot], logLevel: logLevel.NOTHING, retry: { retries: 3 } })

const emit = s => process.stdout.write(s + '\n')
const hexOrNull = b => (b == null ? '-' : b.length === 0 ? '_' : Buffer.from(b).toString('hex'))

// kafkajs represents headers as an object: repeated keys become arrays and the order across
// different keys is the object's. Headers are printed in that order.
function hdrs (h) {
  const out = []
  for (const [k, v] of Object.entries(h || {})) {
    for (const x of Array.isArray(v) ? v : [v]) out.push(Buffer.from(k).toString('hex') + ':' + hexOrNull(x))
  }
  return out.length ? out.join(',') : '-'
}

async function readInput () {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  const out = []
  for await (const line of rl) {
    if (!line.trim()) continue
    const d = JSON.parse(line)
    const headers = {}
    for (const [k, v] of d.h || []) {
      const b = Buffer.from(v, 'hex')
      if (k in headers) headers[k] = [].concat(headers[k], b)
      else headers[k] = b
    }
    out.push({
      p: d.p,
      key: d.k == null ? null : Buffer.from(d.k, 'hex'),
      value: d.v == null ? null : Buffer.from(d.v, 'hex'),
      headers,
      ts: d.ts
    })
  }
  return out
}

const codecs = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy, lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD }

async function produce (topic, codec, acks) {
  const recs = await readInput()
  const producer = kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 1 })
  await producer.connect()
  const ack = acks === 'all' ? -1 : parseInt(acks, 10)
  // One send per chunk of ~500 KB (each partition's records become one batch).
  let chunk = []
  let size = 0
  const flush = async () => {
    if (!chunk.length) return
    const messages = chunk.map(({ r }) => {
      const m = { key: r.key, value: r.value, headers: r.headers }
      if (r.p >= 0) m.partition = r.p
      if (r.ts) m.timestamp = String(r.ts)
      return m
    })
    const meta = await producer.send({ topic, messages, acks: ack, compression: codecs[codec] })
    const base = {}
    for (const m of meta || []) base[m.partition] = m.baseOffset == null ? -1 : parseInt(m.baseOffset, 10)
    const seen = {}
    for (const { i, r } of chunk) {
      if (r.p < 0 || ack === 0 || base[r.p] == null || base[r.p] < 0) {
        emit(`ACK ${i} ${r.p} -1`)
        continue
      }
      seen[r.p] = (seen[r.p] || 0) + 1
      emit(`ACK ${i} ${r.p} ${base[r.p] + seen[r.p] - 1}`)
    }
    chunk = []
    size = 0
  }
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]
    const sz = (r.value ? r.value.length : 0) + (r.key ? r.key.length : 0)
    if (chunk.length && size + sz > 500 * 1024) await flush()
    chunk.push({ i, r })
    size += sz
  }
  await flush()
  await producer.disconnect()
  emit('DONE')
}

// rawFetcher returns a function that fetches one partition from an offset with kafkajs' broker.
async function rawFetcher (topic) {
  const syms = Object.getOwnPropertySymbols(kafka)
  const create = syms.map(s => kafka[s]).find(v => typeof v === 'function')
  const cluster = create({ metadataMaxAge: 300000, allowAutoTopicCreation: false, maxInFlightRequests: 1, isolationLevel: 1 })
  await cluster.connect()
  await cluster.addTargetTopic(topic)
  await cluster.refreshMetadata()
  return {
    cluster,
    async fetch (partition, offset, maxWaitTime) {
      const leaders = cluster.findLeaderForPartitions(topic, [partition])
      const nodeId = Object.keys(leaders)[0]
      const broker = await cluster.findBroker({ nodeId })
      const resp = await broker.fetch({
        replicaId: -1,
        isolationLevel: 1,
        maxWaitTime,
        minBytes: 1,
        maxBytes: 16 << 20,
        topics: [{ topic, partitions: [{ partition, fetchOffset: String(offset), maxBytes: 8 << 20 }] }]
      })
      const out = []
      for (const t of resp.responses) {
        for (const p of t.partitions) {
          if (p.errorCode) throw new Error(`fetch ${topic}/${p.partition}: error code ${p.errorCode}`)
          for (const m of p.messages) {
            if (m.isControlRecord) continue
            if (parseInt(m.offset, 10) >= offset) out.push({ partition: p.partition, m })
          }
        }
      }
      return out
    }
  }
}

const recLine = (p, m) => `REC ${p} ${m.offset} ${m.timestamp} ${hexOrNull(m.key)} ${hexOrNull(m.value)} ${hdrs(m.headers)}`

// consume reads count records from offset start (default 0) of every partition.
async function consume (topic, nparts, count, start = '0') {
  const f = await rawFetcher(topic)
  const next = {}
  for (let p = 0; p < parseInt(nparts, 10); p++) next[p] = parseInt(start, 10)
  const admin = kafka.admin()
  await admin.connect()
  const ends = {}
  for (const o of await admin.fetchTopicOffsets(topic)) ends[o.partition] = parseInt(o.high, 10)
  await admin.disconnect()
  let n = 0
  const deadline = Date.now() + 30000
  while (n < parseInt(count, 10) && Date.now() < deadline) {
    let progressed = false
    for (const p of Object.keys(next).map(Number)) {
      if (next[p] >= (ends[p] || 0)) continue
      for (const { partition, m } of await f.fetch(p, next[p], 500)) {
        emit(recLine(partition, m))
        next[p] = parseInt(m.offset, 10) + 1
        n++
        progressed = true
      }
    }
    if (!progressed && Object.keys(next).every(p => next[p] >= (ends[p] || 0))) break
  }
  await f.cluster.disconnect()
  emit('DONE')
}

async function longpoll (topic) {
  const admin = kafka.admin()
  await admin.connect()
  const offs = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  const start = parseInt(offs.find(o => o.partition === 0).high, 10)
  const f = await rawFetcher(topic)
  emit('READY')
  const deadline = Date.now() + 40000
  while (Date.now() < deadline) {
    const got = await f.fetch(0, start, 10000)
    if (got.length) {
      emit(recLine(got[0].partition, got[0].m))
      break
    }
  }
  await f.cluster.disconnect()
  emit('DONE')
}

async function times (topic, ...tss) {
  const admin = kafka.admin()
  await admin.connect()
  for (const ts of tss) {
    const r = await admin.fetchTopicOffsetsByTimestamp(topic, parseInt(ts, 10))
    emit(`OFT ${ts} ${r.find(o => o.partition === 0).offset}`)
  }
  await admin.disconnect()
}

async function adminScen (topic) {
  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true, timeout: 20000 })
  if (!created) throw new Error('createTopics returned false (topic exists?)')
  emit('CREATED')
  const md = await admin.fetchTopicMetadata({ topics: [topic] })
  emit(`DESCRIBED ${md.topics[0].partitions.length}`)
  await admin.deleteTopics({ topics: [topic], timeout: 20000 })
  emit('DELETED')
  for (let i = 0; i < 100; i++) {
    if (!(await admin.listTopics()).includes(topic)) {
      emit('GONE')
      await admin.disconnect()
      return
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error('topic still listed after delete')
}

// group: a consumer-group member (line protocol: compat/group_test.go). kafkajs' eager
// round-robin assignor; autoCommit off, one synchronous commitOffsets per batch after its
// records are printed, before the next batch.
async function group (topic, groupId, protocol) {
  if (protocol !== 'classic') throw new Error('kafkajs member: only the classic group protocol is driven')
  const log = s => process.stderr.write(`${new Date().toISOString()} ${s}\n`)
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 6000,
    heartbeatInterval: 1000,
    rebalanceTimeout: 20000,
    maxWaitTimeInMs: 500,
    allowAutoTopicCreation: false,
    retry: { retries: 10 }
  })
  const { GROUP_JOIN, REBALANCING, CRASH } = consumer.events
  consumer.on(GROUP_JOIN, e => {
    const ps = (e.payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b)
    emit(`ASSIGNED ${ps.length ? ps.join(',') : '-'}`)
  })
  consumer.on(REBALANCING, () => emit('ASSIGNED -'))
  consumer.on(CRASH, e => log(`crash: ${e.payload.error} (restart: ${e.payload.restart})`))
  // stdin: "stop" (or its end) leaves the group; "nocommit" stops committing.
  let hold = false
  const stopped = new Promise(resolve => {
    let buf = ''
    process.stdin.on('data', d => {
      buf += d
      const lines = buf.split('\n')
      buf = lines.pop()
      for (const l of lines) {
        if (l.trim() === 'stop') resolve()
        if (l.trim() === 'nocommit' && !hold) {
          hold = true
          emit('HOLDING')
        }
      }
    })
    process.stdin.on('end', resolve)
  })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
      let last = null
      for (const m of batch.messages) {
        if (!isRunning() || isStale()) break
        emit(recLine(batch.partition, m))
        resolveOffset(m.offset)
        last = BigInt(m.offset)
      }
      if (last === null || hold) return
      const next = String(last + 1n)
      try {
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }])
        emit(`COMMITTED ${batch.partition} ${next}`)
      } catch (e) {
        log(`commit ${batch.partition}: ${e.name}: ${e.message}`)
      }
    }
  })
  await stopped
  await consumer.disconnect() // leaves the group
  emit('DONE')
}

const scenarios = { produce, consume, longpoll, times, admin: adminScen, group }

// Exit only once stdout is drained: writes to a pipe are asynchronous in node.
const exit = code => process.stdout.write('', () => process.exit(code))
scenarios[scen](...args).then(
  () => exit(0),
  err => {
    emit(`ERR ${err.name}: ${String(err.message).replace(/\n/g, ' ')}`)
    exit(1)
  }
)
