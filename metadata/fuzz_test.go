package metadata

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
)

// FuzzDecodeEntries: the Raft log's entries decoder never panics on any bytes, and what it
// accepts re-encodes to the same bytes.
func FuzzDecodeEntries(f *testing.F) {
	f.Add(encodeEntries(testLogs(1, 3, 5))[1:])
	f.Add(encodeEntries([]*raft.Log{{Index: 7, Term: 2, Type: raft.LogConfiguration}})[1:])
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		logs, err := decodeEntries(b)
		if err != nil {
			return
		}
		if again := encodeEntries(logs)[1:]; !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again, b)
		}
	})
}

// FuzzDecodeCommand: a metadata command from the log never panics the decoder or the state
// machine, whatever its bytes.
func FuzzDecodeCommand(f *testing.F) {
	for _, c := range []any{&RegisterBroker{ID: 1, Incarnation: "a"}, &CreateTopic{Name: "t", ID: TopicID{1}, Partitions: 2, ReplicationFactor: 1},
		&AlterPartition{BrokerID: 1, Topic: "t", ISR: []int32{1}}, &Reassign{Topic: "t", Target: []int32{1}}, &ElectLeaders{Type: 1, Topic: "t"}} {
		b, _ := EncodeCommand(c)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd, err := DecodeCommand(b)
		if err != nil {
			return
		}
		s := NewClusterState("c")
		s.Apply(1, &RegisterBroker{ID: 1, Incarnation: "a"})
		s.Apply(2, &UnfenceBroker{ID: 1, Epoch: 1})
		s.Apply(3, &CreateTopic{Name: "t", ID: TopicID{9}, Partitions: 1, ReplicationFactor: 1})
		s.Apply(4, cmd)
		checkClusterInvariants(t, s)
	})
}
