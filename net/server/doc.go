// Package server is logd's Kafka network front: gnet v2 event loops (epoll)
// read and frame requests, a bounded worker pool runs the broker's Handler,
// and one writer goroutine per busy connection sends responses in request
// order, file regions by sendfile(2). It knows framing, the request header,
// connections, ordering and zero-copy sends; nothing about Kafka APIs. Linux.
//
// # Usage
//
//	s := server.New(server.Config{HeaderVersion: broker.RequestHeaderVersion}, h)
//	if err := s.Start(":9092"); err != nil { ... }
//	...
//	err := s.Shutdown(ctx)
//
//	func (b *Broker) Handle(req *server.Request) *server.Response {
//		r := server.NewResponse()
//		bb := r.Buffer()
//		bb.B = appendHeaderAndPartitionFields(bb.B, req.CorrelationID, ...)
//		r.AppendRegion(server.Region{File: seg.File(), Offset: pos, Len: n, Release: seg.Unref})
//		bb = r.Buffer() // a new tail after the region
//		...
//		return r // or nil: no response (acks=0)
//	}
//
//	// A request that must wait (a long poll, a sync, a rebalance) frees its
//	// worker: it registers a Deferred with what it waits for and returns nil.
//	d := req.Defer()
//	partition.onAppend(func() { d.Complete(buildFetchResponse(req)) })
//	return nil
//
// # Wire framing
//
//	+---------------+------------------------------------------------------+
//	| size int32 BE | frame (size bytes)                                   |
//	+---------------+------------------------------------------------------+
//	                | api_key int16 | api_version int16 | correlation_id int32
//	                | client_id: int16 len (-1 = null) + bytes
//	                | [header v2: tagged fields]  | body ...
//
// size < 0 or size > MaxRequestBytes closes the connection before anything is
// allocated. A frame shorter than the v1 header, a client id length below -1
// or past the frame, or (when Config.HeaderVersion says v2) malformed tagged
// fields close the connection. Without HeaderVersion, Request.BodyOffset is
// the offset after the client id and the broker skips header v2 tagged fields.
// Responses are framed by the server's own size prefix; the broker writes the
// response header (correlation id, tagged fields for flexible versions).
//
// # Per-connection pipeline
//
//	gnet event loop (one per core)             worker pool             writer goroutine
//	------------------------------             -----------             ----------------
//	epoll: readable
//	  read ≤ ReadBufferCap into loop buffer
//	  OnTraffic: framer.feed (copies all
//	  bytes out of gnet; partial frame
//	  grows with arrivals, charged to the
//	  global budget)
//	  complete frame → parseHeader
//	  ring has a free slot? ──yes──► slot[tail] = Request ──► Handle(req) ─► complete(slot, resp)
//	       │no                          tail++                 │ req.Defer()      ▲
//	       │                                                   ▼ return nil       │
//	       │                                    (worker freed; slot stays running)│
//	       │                                    event/timeout: Deferred.Complete ─┘
//	       │                                                                      │
//	       ▼                            ring full → pause                        │ head slot done and
//	  pending (budget-charged) + pause                                          │ no writer running?
//	                                                                             ▼
//	  resume (Execute) ◄─── ring was full ◄──── head += n, release ◄── write slots[head..] in order:
//	  dispatch pending; if all fit,                                  size prefix + byte parts: writev
//	  epoll read interest back on                                    region with Fd: sendfile(&off)
//	                                                                 region without: pread + write
//	                                                                 EAGAIN: park on Go's netpoller
//
// The ring has MaxInFlight slots. Slot seq numbers are assigned in read order;
// the writer only ever takes the done slots starting at head, so responses
// leave in request order however the handlers interleave. A nil response is
// a done slot with nothing to write.
//
// # Deferred requests
//
// Workers run, they never wait: a handler that waits for an event calls
// Request.Defer and returns. The request keeps its slot (state running), its
// frame and its place in the response order; its turn (WaitTurn) ends when
// the handler returns. Whoever satisfies the wait, or its timeout, calls
// Deferred.Complete(resp) exactly once, from any goroutine; the slot then
// becomes done like any other and the writer sends it in order. MaxInFlight
// still bounds a connection, deferred requests included.
//
// A Deferred is (slot, seq). Two parties may settle the slot, the handler's
// worker (when Handle returns) and Complete; under conn.mu, slot.handled and
// slot.answered say who came first, and the second one settles it: a
// Complete before the handler returned leaves its response in slot.early for
// the worker. Neither touches the slot after the other may have settled it,
// because settling lets the writer free it and dispatch reuse it. Complete
// reads the slot only under conn.mu and acts only if the slot still holds seq,
// is running and unanswered; a second or stale call releases its response and
// does nothing else. A handler that panics after Defer closes the connection
// and marks the slot answered, so the later Complete is dropped.
//
// A connection closing does not release a deferred request's slot or frame:
// the completion does (complete on a closed connection frees the slot, never
// to be reused, since a closed connection dispatches nothing), so the frame
// stays valid for the response being built from it until then.
//
// # Why a writer goroutine and not gnet's writes
//
// gnet v2 has no sendfile and its async writes queue without bound. The
// writer writes the socket itself, on a dup(2) of gnet's fd wrapped in an
// os.File: the dup shares the O_NONBLOCK file description, so os.NewFile puts
// it on Go's runtime netpoller, and syscall.RawConn.Write parks the writer on
// EAGAIN until the socket is writable again, with no spinning, no thread
// blocked in poll(2) (10,000 slow consumers would otherwise need 10,000
// threads), and no event-loop time spent on slow sockets. Closing the os.File
// wakes a parked writer. The dup also means gnet closing its fd can never
// make the writer write into a reused fd number.
//
// Consequently gnet's own writes (Write, Writev, AsyncWrite, AsyncWritev,
// Flush, OnOpen's out bytes) are never used on a connection: there is nothing
// of gnet's to order against, and gnet never changes a connection's epoll
// interest (it only does so to flush its outbound buffer), which the pausing
// below relies on. sendfile gets an explicit offset pointer, so the segment
// file's shared offset never moves and concurrent regions of one file are
// safe. The alternative, doing everything on the event loop via Execute with
// gnet's buffers, was rejected: sendfile of a large region would run on, and
// stall, the loop serving a thousand other connections, and EAGAIN handling
// would need gnet's writable events, which it does not expose.
//
// The writer goroutine exists only while a connection has responses to send;
// it exits when the head slot is not done. It gathers byte parts of
// consecutive responses into one writev (up to 1024 iovecs), flushing before
// each region to keep the wire order.
//
// A connection that sends a region of 1 MiB or more (a consumer or follower catching up) gets
// a send buffer of net.core.wmem_max, when that beats the kernel's autotuning, once: fewer
// short sendfiles and writer parks per GB (writer.go's bulkSendBuffer has the numbers).
//
// # TLS
//
// gnet has no TLS (its maintainer declined it, gnet#749), so StartTLS serves a listener of
// its own on crypto/tls (stream.go), one server per listener as with gnet. Each connection
// gets a reader goroutine that does the event loop's part with the same code: TLS handshake
// (bounded by handshakeTimeout), then Read (≤ one 16 KiB record) → framer.feed → emit →
// dispatch into the same ring, worker pool, turns and in-order writer. Where the event loop
// pauses with EPOLL_CTL_MOD, the reader simply stops calling Read (pause sets paused) and
// blocks on the connection's wake channel, which the writer signals where it would Execute
// resume on gnet's loop; abort closes the TLS conn, which wakes a reader in Read, a writer in
// Write, and (via wake) a paused reader. conn.stream marks such a connection; it has no gc,
// socket dup or epoll fd, and the fields the event loop owns belong to its reader goroutine.
//
// The writer gathers byte parts through a 16 KiB bufio.Writer into full TLS records (one
// record per small part would cost a header, a MAC and a syscall each) and writes file
// regions by pread into a pooled chunk and Write: sendfile(2) cannot encrypt.
//
// Cost against PLAINTEXT: a goroutine (≈ 8 KiB stack) plus a 16 KiB read buffer, tls.Conn's
// own record buffers and, while writing, a 16 KiB gather buffer per connection, where gnet
// shares one read buffer per loop; per byte, AES-GCM in both directions (AES-NI: a few
// GB/s per core) and, on fetch, a copy from the page cache to user space and back, which
// sendfile avoids. Kafka pays the same: it loses zero-copy under TLS too.
// bench/results/2026-12-07-tls has the measured produce and fetch throughput of both paths.
//
// # Sessions and authentication
//
// Each connection has a Session (session.go) its requests share: authenticated or not, the
// principal, and a handler's exchange in progress (SASL). With Config.RequireAuth a
// connection starts unauthenticated and its framer's limit is PreAuthMaxRequestBytes (512 KiB,
// Kafka's sasl.server.max.receive.size), checked at the size prefix before anything is
// allocated; the loop (or stream reader) raises it to MaxRequestBytes before the first read
// after Session.Authenticate. The handler decides what an unauthenticated connection may
// send. Response.CloseAfter closes the connection once that response is written (a failed
// authentication: the client reads why, then the connection ends). Session.SetExpiry records
// when an authentication runs out (KIP-368 re-authentication); the handler checks
// Session.Expired and closes the connection of a client that did not re-authenticate.
//
// # Muting
//
// Response.MuteFor (mute.go) stops reading a connection for a while once that response is
// written: Kafka's quota throttling (KIP-219), a timer and the same pause as at
// MaxInFlight, no goroutine parked.
//
// # Back-pressure and memory bounds
//
//   - In flight: a request holds a ring slot from dispatch until its response
//     is written. When the last slot is taken the connection stops being read
//     (EPOLL_CTL_MOD to no read interest on gnet's epoll fd, see
//     pause_linux.go for why and how), so a client pipelining past
//     MaxInFlight is held back by TCP flow control, not by our memory. At most
//     one read chunk (ReadBufferCap, 1 MiB) arrives after the pause; its complete
//     frames wait in pending, charged to the budget (so 512 connections
//     pipelining past MaxInFlight at once, each with a full chunk pending,
//     fill the default budget; 64 KiB chunks allowed 8,192 but cost a read(2)
//     and a partial-frame copy per 64 KiB of a producer's 100-200 KB requests).
//   - Received but not dispatched (partial frames and pending) are charged to
//     the global MaxBufferedBytes budget by buffer capacity. A partial frame
//     never allocates its claimed size: its buffer holds at most twice the
//     bytes that arrived (at least 4 KiB), grown as they arrive. The
//     connection whose growth exceeds the budget is closed.
//   - Dispatched frames are bounded by MaxInFlight × MaxRequestBytes per
//     connection (not by the budget; see open problems in the issue note).
//   - Queued output is at most MaxInFlight responses per connection, and
//     regions reference files, not memory.
//   - Connections beyond MaxConns, and those Config.Admit refuses (Kafka's connection
//     quotas: per-IP and per-listener limits, per-IP connection rates), are closed on
//     accept; Admit's Closed hears of every connection it admitted. Handler goroutines are
//     capped by Workers (a multiple of the cores: handlers never wait for
//     events); queued handler work is bounded by conns × MaxInFlight.
//     Deferred requests hold no goroutine: a parked request costs its slot,
//     its frame and what its handler registered.
//
// # Buffer ownership
//
//   - Request.Frame is a pooled buffer owned by the server. It is valid and
//     unmodified from Handle until the returned (or, for a deferred request,
//     completed) Response has been completely written or dropped (connection
//     closed, and for a deferred request its Complete called); then it
//     returns to the pool. Sub-slices (kmsg's Produce records) may be used
//     until then, not after.
//   - A returned Response belongs to the server. After writing (or dropping)
//     it, the server returns its byte buffers to bytebufferpool and calls each
//     Region.Release exactly once. A region's file must stay open until then.
//   - gnet's inbound bytes are copied out in OnTraffic; gnet's inbound buffer
//     therefore stays empty and nothing references gnet memory afterwards.
//
// # Lock rules
//
//   - conn.mu guards the ring (slot states, head, tail), full, writing,
//     closed. Held only for bookkeeping: never across a syscall, a handler, a
//     Region.Release or a gnet call.
//   - Event-loop owned, no lock: framer, pending, paused, gone.
//   - Writer owned: writerState, batch; one writer per connection at a time
//     (conn.writing).
//   - The worker pool (internal/runq) has its own leaf lock; Submit is
//     called holding no conn.mu, and handlers run holding no pool lock.
//   - conn.mu also guards a slot's handled, answered and early (the handoff
//     between a deferred request's worker and its Complete, see above).
//   - Slot fields other than seq/state belong to whoever moved the slot into
//     its current state: the loop (free→running), the handler (running; its
//     deferred flag is read by its own worker after Handle returns), the
//     settler of a deferred request, the writer (writing), or the releaser
//     after closed.
//   - Deferred.Complete takes conn.mu briefly and runs Region.Release of a
//     dropped response: call it holding no lock a Release takes.
//
// # Timing
//
// Request.Received is stamped when a frame is complete (before any wait in
// pending or the worker queue), so the handler can tell how long it queued.
// With Config.ObserveResponse set, each response is stamped when its handler
// returns and the writer reports, per written response, how long it waited
// to be taken (behind earlier responses) and how long its batch took to
// send. The clock is read once per request on arrival and, with
// ObserveResponse set, once more when its response is ready and twice per
// writer batch.
//
// # Lifecycle
//
// Shutdown stops taking connections (new ones are closed on accept; gnet
// keeps the listener until the engine stops) and requests (bytes read are
// discarded), waits for in-flight requests (deferred ones included) to be
// answered and written, stops gnet (which closes every connection), then
// waits for workers and writers. It returns at its context's end whatever is
// outstanding; a deferred request completed later is released then (its
// response dropped). The handler's owner bounds its waits and answers parked
// requests when it shuts down (the broker's BeginShutdown), so Shutdown need
// not wait for their timeouts.
package server
