// Package pi checks the Raspberry Pi builds of the hub: its test cross-builds
// them with scripts/build and runs them under qemu-user-static, each on the
// oldest CPU it is meant for.
package pi
