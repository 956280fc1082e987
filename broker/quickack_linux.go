//go:build linux

package broker

import (
	"net"
	"syscall"
)

// ackNow is a connection's way to make the kernel acknowledge received data
// at once; nil when the connection is not TCP.
type ackNow func()

// quickAcker returns the ackNow of c.
//
// Why: a broker with Nagle's algorithm on (Mosquitto's default,
// set_tcp_nodelay false) holds each small PUBLISH back until the previous
// one is acknowledged, and Linux delays the acknowledgement of small
// segments by up to 40 ms, hoping to send it with data. At QoS 0 the hub
// sends nothing back, so every message waited up to 40 ms (23 ms on
// average). TCP_QUICKACK is not sticky (the kernel goes back to delaying),
// so it is set again after each read that took data.
func quickAcker(c net.Conn) ackNow {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	set := func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	}
	return func() { _ = raw.Control(set) }
}
