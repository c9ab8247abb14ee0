package producer

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzUnmarshalSnapshot: any bytes either decode or fail with ErrCorruptSnapshot, never panic;
// whatever decodes re-encodes to the same bytes (the encoding is canonical) and is usable.
func FuzzUnmarshalSnapshot(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("LDPS"))
	f.Add(New().MarshalSnapshot(nil))
	good := sampleState(f).MarshalSnapshot(nil)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(reseal(bytes.Clone(good[:snapHeaderLen+minEntryLen])))
	one := New()
	one.Update(at(batch(1, 0, 0, 1), 0, 0))
	f.Add(one.MarshalSnapshot(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalSnapshot(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptSnapshot) || s != nil {
				t.Fatalf("error %v does not wrap ErrCorruptSnapshot (state %v)", err, s)
			}
			// A CRC-valid copy reaches the structural checks too.
			if len(b) >= snapHeaderLen && string(b[:4]) == snapshotMagic {
				_, _ = UnmarshalSnapshot(reseal(bytes.Clone(b)))
			}
			return
		}
		if again := s.MarshalSnapshot(nil); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
		for _, e := range s.Entries() {
			_, _ = s.Check(batch(e.ProducerID, e.ProducerEpoch, LastSequence(e.LastSequence, 1), 1))
		}
		s.TruncateFrom(0)
		_ = s.Len()
	})
}
