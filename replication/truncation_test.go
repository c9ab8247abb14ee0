package replication

import (
	"testing"

	"github.com/logd/logd/engine"
)

func TestDecideTruncation(t *testing.T) {
	local := []engine.EpochEntry{{Epoch: 1, StartOffset: 0}, {Epoch: 3, StartOffset: 5}}
	for _, c := range []struct {
		name   string
		local  []engine.EpochEntry
		leader engine.EpochEndOffset
		want   Truncation
	}{
		{"no local epochs: high watermark", nil, engine.EpochEndOffset{Epoch: 3, EndOffset: 9}, Truncation{4, true}},
		{"undefined answer: high watermark", local, engine.EpochEndOffset{Epoch: engine.UndefinedEpoch, EndOffset: engine.UndefinedOffset}, Truncation{4, true}},
		{"leader without epochs: its end", local, engine.EpochEndOffset{Epoch: engine.UndefinedEpoch, EndOffset: 6}, Truncation{6, true}},
		{"same epoch, leader shorter", local, engine.EpochEndOffset{Epoch: 3, EndOffset: 7}, Truncation{7, true}},
		{"same epoch, leader longer: keep all", local, engine.EpochEndOffset{Epoch: 3, EndOffset: 20}, Truncation{8, true}},
		{"leader's epoch unknown here: our end below it, ask again", local, engine.EpochEndOffset{Epoch: 2, EndOffset: 6}, Truncation{5, false}},
		{"common older epoch ends earlier on the leader", local, engine.EpochEndOffset{Epoch: 1, EndOffset: 3}, Truncation{3, true}},
		{"nothing at or below the leader's epoch", []engine.EpochEntry{{Epoch: 5, StartOffset: 2}}, engine.EpochEndOffset{Epoch: 4, EndOffset: 1}, Truncation{1, true}},
		{"answer beyond our end is clamped", []engine.EpochEntry{{Epoch: 5, StartOffset: 2}}, engine.EpochEndOffset{Epoch: 5, EndOffset: 100}, Truncation{8, true}},
	} {
		if got := DecideTruncation(c.local, 8, 4, c.leader); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}
