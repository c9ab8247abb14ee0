package engine

import (
	"math/rand"
	"testing"
	"time"

	"github.com/logd/logd/internal/vfs"
)

// TestCloseIdleSegmentsSurviveCrash: closing idle segments syncs them through the group
// committer before it closes their files, so writes whose waiters come after the close are
// durable although no round syncs the closed file; every acknowledged batch survives a crash,
// and a closed segment reads again (reopened on demand).
func TestCloseIdleSegmentsSurviveCrash(t *testing.T) {
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/data")
	cfg := DefaultLogConfig
	cfg.SegmentBytes = 4000
	l := env.log(tp0, cfg)
	acked := map[int64][]byte{}
	closed := 0
	for g := range 6 {
		// Ten appends roll segments; idle ones are closed before anyone waited for their
		// writes, so only the close's own sync can make them durable. Then half are waited
		// for (acks=all), half not (acks=1).
		var res [10]AppendResult
		var bs [10][]byte
		for i := range res {
			bs[i] = batch(2, 300, int64(g*10+i))
			res[i] = mustAppend(t, l, bs[i])
		}
		closed += l.closeIdleSegments(time.Now().Add(time.Hour))
		for i := 0; i < len(res); i += 2 {
			if err := l.WaitDurable(res[i].SyncSeq); err != nil {
				t.Fatal(err)
			}
			acked[res[i].BaseOffset] = bs[i]
		}
	}
	if closed == 0 {
		t.Fatal("no idle segment was closed: the test does not exercise closeIfIdle")
	}
	verifyLog(t, l, acked, 0, false) // reads reopen the closed segments
	crashed := fs.CrashClone(rand.New(rand.NewSource(1)))
	env.e.Close()
	env = newTestEnv(t, crashed, "/data")
	defer env.close()
	verifyLog(t, env.log(tp0, cfg), acked, 1, false)
}
