package redisstate

import (
	"os/exec"
	"syscall"
)

// killWithParent has the kernel kill cmd if the test binary dies before
// its cleanup runs (a timeout panic, say), so no redis-server is left over.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
