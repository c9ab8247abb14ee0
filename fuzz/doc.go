// Package fuzz is the index of logd's fuzz targets. It holds no code: each target lives beside
// the decoder it attacks, in that package's tests, so it can reach unexported state and runs
// with that package's seed corpus (testdata/fuzz/<Target>/, where the fuzzer also writes any
// failing input; commit those, they become regression tests run by plain `go test`).
//
// Every target feeds bytes that arrive from the network or a disk logd does not trust, and
// asserts at least: no panic, no hang, no allocation sized by a claimed length.
//
//	target                                          input                                  also asserts
//	segment.FuzzValidateBatch                       one record batch v2                    an accepted batch fits and has a good CRC
//	segment.FuzzRecover                             a fuzzed tail after valid batches      recovery keeps exactly the valid prefix
//	index.FuzzOpenIndex                             .index / .timeindex file bytes         lookups match a linear scan when sane
//	engine/internal/producer.FuzzUnmarshalSnapshot  a producer snapshot file               decodes or ErrCorruptSnapshot; canonical
//	net/server.FuzzFrames                           a TCP byte stream, cut anywhere        frame limit and budget accounting exact
//	broker.FuzzHandle                               a request body, any registered API     responses parse with kmsg; unknown versions close
//	broker.FuzzRequestHeader                        key, version, correlation, client id   header versions agree with kmsg's flexible versions
//	internal/properties.FuzzParse                   a Java .properties file (--config)     entries written back escaped reparse identically
//	auth.FuzzPlainStep                              a SASL PLAIN message, unauthenticated  authenticates exactly on a right password
//	auth.FuzzParseJAAS                              a sasl.jaas.config value               an accepted value names a module
//
// Run every target for a while:
//
//	make fuzz-short                 # FUZZTIME=10s each
//	make fuzz-short FUZZTIME=10m    # before a release, or after touching a decoder
//
// (The Makefile target does not list the broker targets yet; run them as below.)
//
// One target, long, on every core:
//
//	go test -run='^$' -fuzz=FuzzHandle -fuzztime=1h ./broker
//
// See README.md for what each target covers, what it deliberately does not, and how to triage a
// failing input.
package fuzz
