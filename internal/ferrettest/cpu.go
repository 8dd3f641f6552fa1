package ferrettest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// Linux everywhere).
const clockTick = 10 * time.Millisecond

// CPU returns the CPU time (user and system) the server's process has used
// since it started, read from /proc (Linux): what a benchmark reports as
// the store's CPU per event. It fails when the server is stopped or /proc
// cannot be read.
func (s *Server) CPU() (time.Duration, error) {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return 0, errors.New("ferretdb: CPU of a stopped server")
	}
	return processCPU(cmd.Process.Pid)
}

// processCPU reads utime and stime of process pid from /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("process CPU: %w", err)
	}
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("process CPU: malformed /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("process CPU: short /proc/%d/stat", pid)
	}
	var total time.Duration
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("process CPU: %w", err)
		}
		total += time.Duration(n) * clockTick
	}
	return total, nil
}
