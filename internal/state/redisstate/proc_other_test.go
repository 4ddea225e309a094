//go:build !linux

package redisstate

import "os/exec"

// killWithParent does nothing here: only Linux has Pdeathsig. The tests'
// cleanup still stops the servers.
func killWithParent(*exec.Cmd) {}
