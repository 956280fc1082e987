//go:build !unix

package broker

// canWriteNow says that on this system writes go through the send queue's
// writer: there is no portable way to try a socket without waiting.
const canWriteNow = false

func (q *sendQueue) writeFD(uintptr) bool { return true }

func wouldBlock(error) bool { return false }
