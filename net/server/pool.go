package server

import (
	"math/bits"
	"sync"
)

// Frame buffers come from power-of-two size classes between minPooledFrame and
// maxPooledFrame. Larger frames are plain allocations left to the GC: pooling
// them would pin up to socket.request.max.bytes per class forever.
const (
	minPooledFrame = 512
	maxPooledFrame = 1 << 20
	numFrameClass  = 12 // 512 B .. 1 MiB
)

var (
	framePools [numFrameClass]sync.Pool // of *[]byte, cap == class size
	// boxPool recycles the *[]byte boxes so Put does not allocate.
	boxPool = sync.Pool{New: func() any { return new([]byte) }}
)

// frameClass rounds n up to its pool class size, or returns n when n is not
// pooled.
func frameClass(n int) int {
	if n > maxPooledFrame {
		return n
	}
	if n <= minPooledFrame {
		return minPooledFrame
	}
	return 1 << bits.Len(uint(n-1))
}

func classIndex(c int) int { return bits.Len(uint(c)) - bits.Len(minPooledFrame) }

// getFrame returns a buffer of length n.
func getFrame(n int) []byte { return getFrameCap(n)[:n] }

// getFrameCap returns a zero-length buffer with capacity >= c.
func getFrameCap(c int) []byte {
	cl := frameClass(c)
	if cl > maxPooledFrame {
		return make([]byte, 0, c)
	}
	if box, _ := framePools[classIndex(cl)].Get().(*[]byte); box != nil {
		b := *box
		*box = nil
		boxPool.Put(box)
		return b[:0]
	}
	return make([]byte, 0, cl)
}

// putFrame recycles b if its capacity is exactly a pooled class.
func putFrame(b []byte) {
	c := cap(b)
	if c < minPooledFrame || c > maxPooledFrame || c&(c-1) != 0 {
		return
	}
	box := boxPool.Get().(*[]byte)
	*box = b[:0]
	framePools[classIndex(c)].Put(box)
}
