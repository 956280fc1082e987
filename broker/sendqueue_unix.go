//go:build unix

package broker

import (
	"errors"
	"syscall"
)

// canWriteNow says that this system lets a write try the socket without
// waiting.
const canWriteNow = true

// writeFD writes q.now to the socket once, as much as it takes, and never
// waits: it always reports the write done, so the runtime does not wait for
// the socket either.
func (q *sendQueue) writeFD(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), q.now)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		q.nowN, q.nowE = max(n, 0), err
		return true
	}
}

// wouldBlock reports whether a write failed only because the socket's
// buffer is full.
func wouldBlock(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
}
