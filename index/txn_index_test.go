package index

import (
	"errors"
	"testing"
)

func TestTxnIndexRoundTrip(t *testing.T) {
	want := []AbortedTxn{{ProducerID: 7, FirstOffset: 10, LastOffset: 14, LastStableOffset: 15}, {ProducerID: 1 << 40, FirstOffset: 12, LastOffset: 30, LastStableOffset: 12}}
	var b []byte
	for _, e := range want {
		b = AppendTxnEntry(b, e)
	}
	if len(b) != 2*TxnEntrySize {
		t.Fatalf("encoded %d bytes, want %d", len(b), 2*TxnEntrySize)
	}
	got, err := ParseTxnIndex(b)
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("ParseTxnIndex = %+v, %v", got, err)
	}
	bad := map[string][]byte{
		"torn entry":     b[:TxnEntrySize+5],
		"version 1":      append([]byte{0, 1}, b[2:TxnEntrySize]...),
		"out of order":   append(append([]byte(nil), b[TxnEntrySize:]...), b[:TxnEntrySize]...),
		"backwards span": AppendTxnEntry(nil, AbortedTxn{ProducerID: 1, FirstOffset: 9, LastOffset: 8}),
	}
	for name, data := range bad {
		if _, err := ParseTxnIndex(data); !errors.Is(err, ErrTxnIndexCorrupt) {
			t.Errorf("%s: %v, want ErrTxnIndexCorrupt", name, err)
		}
	}
}

// FuzzParseTxnIndex: arbitrary bytes never panic, and whatever parses re-encodes to the same
// bytes.
func FuzzParseTxnIndex(f *testing.F) {
	f.Add([]byte{})
	f.Add(AppendTxnEntry(nil, AbortedTxn{ProducerID: 1, FirstOffset: 2, LastOffset: 3, LastStableOffset: 4}))
	f.Add(make([]byte, TxnEntrySize+1))
	f.Fuzz(func(t *testing.T, b []byte) {
		ents, err := ParseTxnIndex(b)
		if err != nil {
			return
		}
		var again []byte
		for _, e := range ents {
			again = AppendTxnEntry(again, e)
		}
		if string(again) != string(b) {
			t.Fatalf("re-encoding differs: %x vs %x", again, b)
		}
	})
}
