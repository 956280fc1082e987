//go:build !linux

package broker

import "net"

// ackNow is a connection's way to make the kernel acknowledge received data
// at once; nil when the connection is not TCP.
type ackNow func()

// quickAcker returns nil: TCP_QUICKACK is Linux's.
func quickAcker(net.Conn) ackNow { return nil }
