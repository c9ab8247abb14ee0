package engine

import "testing"

// TestEndOffsetForEpoch pins Kafka's LeaderEpochFileCache.endOffsetFor case by case.
func TestEndOffsetForEpoch(t *testing.T) {
	h := []EpochEntry{{Epoch: 2, StartOffset: 10}, {Epoch: 4, StartOffset: 20}, {Epoch: 7, StartOffset: 35}}
	undefined := EpochEndOffset{UndefinedEpoch, UndefinedOffset}
	for _, c := range []struct {
		req  int32
		want EpochEndOffset
	}{
		{7, EpochEndOffset{7, 50}}, // latest: the log end
		{8, undefined},             // newer than anything
		{5, EpochEndOffset{4, 35}}, // between: largest below, next start
		{6, EpochEndOffset{4, 35}},
		{4, EpochEndOffset{4, 35}},
		{3, EpochEndOffset{2, 20}},
		{2, EpochEndOffset{2, 20}},
		{1, EpochEndOffset{1, 10}}, // older than the history: the history's start
		{0, EpochEndOffset{0, 10}},
		{UndefinedEpoch, undefined},
	} {
		if got := EndOffsetForEpoch(h, c.req, 50); got != c.want {
			t.Errorf("epoch %d: got %+v, want %+v", c.req, got, c.want)
		}
	}
	if got := EndOffsetForEpoch(nil, 3, 50); got != undefined {
		t.Errorf("empty history: %+v", got)
	}
	one := []EpochEntry{{Epoch: 3, StartOffset: 0}}
	if got := EndOffsetForEpoch(one, 3, 9); got != (EpochEndOffset{3, 9}) {
		t.Errorf("single epoch: %+v", got)
	}
}
