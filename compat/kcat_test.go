//go:build compat

package compat

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kcat (Debian's 1.7.1 on librdkafka 2.0.2) reads messages from stdin, one per line, with
// "-K \t" splitting key and value; -Z sends empty keys/values as NULL; -H adds the same headers
// to every message. It reports no offsets, so produced records are checked in order.
func kcat(s *S, stdin []byte, args ...string) []byte {
	s.Helper()
	if _, err := exec.LookPath("kcat"); err != nil {
		s.Fatalf("kcat not installed: run scripts/compat-deps.sh")
	}
	cmd := exec.CommandContext(s.ctx, "kcat", append([]string{"-b", bootAddr, "-X", "api.version.request=true"}, args...)...)
	cmd.WaitDelay = 2 * time.Second
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		s.Fatalf("kcat %s: %v: %s", strings.Join(args, " "), err, lastLines(errb.String(), 3))
	}
	if strings.Contains(errb.String(), "ERROR") || strings.Contains(errb.String(), "failed") {
		s.Errorf("kcat %s stderr: %s", args[0], lastLines(errb.String(), 3))
	}
	return out.Bytes()
}

func kcatLines(recs []rec) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		b.Write(r.Key)
		b.WriteByte('\t')
		b.Write(r.Val)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// kcatConsume reads partitions from the beginning to the end with a format whose lengths let
// binary keys and values be parsed exactly (headers are not compared: kcat prints them as text).
func kcatConsume(s *S, topic string, partitions int32) []rec {
	s.Helper()
	var out []rec
	for p := int32(0); p < partitions; p++ {
		raw := kcat(s, nil, "-C", "-t", topic, "-p", strconv.Itoa(int(p)), "-o", "beginning", "-e", "-q",
			"-f", "@@ %p %o %T %K %S\n%k%s\n")
		for len(raw) > 0 {
			nl := bytes.IndexByte(raw, '\n')
			if nl < 0 || !bytes.HasPrefix(raw, []byte("@@ ")) {
				s.Fatalf("kcat output not understood near %q", short(string(raw)))
			}
			f := strings.Fields(string(raw[3:nl]))
			raw = raw[nl+1:]
			if len(f) != 5 {
				s.Fatalf("kcat header line %q", f)
			}
			pp, _ := strconv.Atoi(f[0])
			off, _ := strconv.ParseInt(f[1], 10, 64)
			ts, _ := strconv.ParseInt(f[2], 10, 64)
			kl, _ := strconv.Atoi(f[3])
			vl, _ := strconv.Atoi(f[4])
			r := rec{P: int32(pp), Off: off, TS: ts}
			if kl >= 0 {
				r.Key = append([]byte{}, raw[:kl]...)
				raw = raw[kl:]
			}
			if vl >= 0 {
				r.Val = append([]byte{}, raw[:vl]...)
				raw = raw[vl:]
			}
			raw = raw[1:]
			out = append(out, r)
		}
	}
	return out
}

func noHeaders(recs []rec) []rec {
	out := make([]rec, len(recs))
	for i, r := range recs {
		r.H = nil
		out[i] = r
	}
	return out
}

func TestKcat(t *testing.T) {
	const C = "kcat"
	plain := func(p int32, n int) []rec { return noHeaders(basicSet(p, n)) }
	for _, codec := range allCodecs {
		codec := codec
		scenario(t, C, "produce-"+codec, 30*time.Second, func(s *S) {
			topic := topicName(C, "codec-"+codec)
			createTopic(s, topic, 1, nil)
			in := plain(0, 30)
			kcat(s, kcatLines(in), "-P", "-t", topic, "-p", "0", "-K", "\t", "-z", codec, "-X", "acks=all")
			checkProduced(s, topic, 1, in, nil)
			checkCodec(s, topic, 0, codec)
		})
	}
	for _, a := range []string{"0", "1", "all"} {
		a := a
		scenario(t, C, "acks-"+a, 30*time.Second, func(s *S) {
			topic := topicName(C, "acks-"+a)
			createTopic(s, topic, 1, nil)
			in := plain(0, 50)
			kcat(s, kcatLines(in), "-P", "-t", topic, "-p", "0", "-K", "\t", "-X", "acks="+a)
			checkProduced(s, topic, 1, in, nil)
		})
	}
	scenario(t, C, "keyed-ordering", 30*time.Second, func(s *S) {
		topic := topicName(C, "keyed")
		createTopic(s, topic, 4, nil)
		in := keyedSet(400, 10)
		kcat(s, kcatLines(in), "-P", "-t", topic, "-K", "\t", "-X", "acks=all")
		checkKeyed(s, readAll(s, bootAddr, topic, 4, len(in)), len(in))
	})
	scenario(t, C, "headers", 30*time.Second, func(s *S) {
		topic := topicName(C, "headers")
		createTopic(s, topic, 1, nil)
		in := plain(0, 5)
		for i := range in {
			in[i].H = []hdr{{"a", "1"}, {"b", "2"}, {"a", "3"}}
		}
		kcat(s, kcatLines(in), "-P", "-t", topic, "-p", "0", "-K", "\t", "-H", "a=1", "-H", "b=2", "-H", "a=3")
		checkProduced(s, topic, 1, in, nil)
	})
	scenario(t, C, "null-key-value", 30*time.Second, func(s *S) {
		topic := topicName(C, "nulls")
		createTopic(s, topic, 1, nil)
		in := []rec{{P: 0, Val: []byte("null key")}, {P: 0, Key: []byte("tombstone")}, {P: 0}}
		kcat(s, kcatLines(in), "-P", "-t", topic, "-p", "0", "-K", "\t", "-Z")
		checkProduced(s, topic, 1, in, nil)
	})
	scenario(t, C, "large-900KB", 60*time.Second, func(s *S) {
		topic := topicName(C, "large")
		createTopic(s, topic, 1, nil)
		in := largeSet(0, 2)
		var files []string
		for i, r := range in {
			in[i].Key = []byte("kcat-large")
			f := filepath.Join(s.TempDir(), fmt.Sprintf("large-%d", i))
			os.WriteFile(f, r.Val, 0o644)
			files = append(files, f)
		}
		kcat(s, nil, append([]string{"-P", "-t", topic, "-p", "0", "-k", "kcat-large", "-X", "acks=all"}, files...)...)
		checkProduced(s, topic, 1, in, nil)
	})
	scenario(t, C, "timestamps-listoffsets", 30*time.Second, func(s *S) {
		topic := topicName(C, "ts")
		createTopic(s, topic, 1, nil)
		produceRef(s, topic, tsSet(0)) // kcat cannot set timestamps when producing
		for _, q := range tsQueries() {
			out := kcat(s, nil, "-C", "-t", topic, "-p", "0", "-o", "s@"+strconv.FormatInt(q[0], 10), "-c", "1", "-e", "-q", "-f", "%o\n")
			off := int64(-1)
			if t := strings.TrimSpace(string(out)); t != "" {
				off, _ = strconv.ParseInt(t, 10, 64)
			}
			if off != q[1] {
				s.Errorf("kcat -o s@%+dms: first offset %d, want %d", q[0]-tsBase, off, q[1])
			}
		}
	})
	scenario(t, C, "consume-franz-mixed", 60*time.Second, func(s *S) {
		f := franzMixed(s)
		checkConsumed(s, kcatConsume(s, f.topic, f.partitions), noHeaders(f.recs))
	})
	scenario(t, C, "consume-java-lz4", 90*time.Second, func(s *S) {
		f := javaFixture(s)
		checkConsumed(s, kcatConsume(s, f.topic, f.partitions), noHeaders(f.recs))
	})
	scenario(t, C, "long-poll", 40*time.Second, func(s *S) {
		topic := topicName(C, "longpoll")
		createTopic(s, topic, 1, nil)
		cmd := exec.CommandContext(s.ctx, "kcat", "-b", bootAddr, "-C", "-t", topic, "-p", "0", "-o", "end", "-c", "1", "-q",
			"-X", "fetch.wait.max.ms=10000", "-f", "%o %s\n")
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			s.Fatalf("%v", err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		got := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			if sc.Scan() {
				got <- sc.Text()
			}
		}()
		time.Sleep(3 * time.Second) // kcat has resolved "end" and is parked in a fetch
		in := produceRef(s, topic, basicSet(0, 1))
		sent := time.Now()
		select {
		case l := <-got:
			if d := time.Since(sent); d > 4*time.Second {
				s.Errorf("record arrived %v after the produce", d)
			}
			if l != "0 "+string(in[0].Val) {
				s.Errorf("kcat got %q", short(l))
			}
		case <-time.After(15 * time.Second):
			s.Fatalf("parked kcat never received the record")
		}
	})
	scenario(t, C, "admin", 10*time.Second, func(s *S) {
		s.NA("kcat has no topic administration (only -L metadata, exercised by every kcat run)")
	})
}
