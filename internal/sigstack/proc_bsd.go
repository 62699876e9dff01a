//go:build unix && !linux

package sigstack

import "syscall"

func setDeathSignal(*syscall.SysProcAttr) {}
