// Package diskfull makes a full disk for tests: a small tmpfs the test
// mounts, and a ballast file that fills it until writes fail with ENOSPC.
package diskfull

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Tmpfs mounts a tmpfs of size bytes on a new directory and returns it;
// it is unmounted when t ends, before the directory is removed. Mounting
// needs root (CAP_SYS_ADMIN), as CI runs the tests; without it t is
// skipped, saying so.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("a full disk needs a tmpfs mounted by the test, which needs root (CAP_SYS_ADMIN; CI runs as root): mount: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("diskfull: unmount the tmpfs at %s: %v", dir, err)
		}
	})
	return dir
}

// Fill fills the filesystem of dir with a ballast file until a write fails
// with ENOSPC, so that writes that need space fail as on a full disk
// (those that rewrite space already held may still succeed, as on a real
// full disk). The returned func removes the ballast. Meant for a Tmpfs: on
// a large filesystem it would fill that.
func Fill(dir string) (free func() error, err error) {
	path := filepath.Join(dir, "ballast")
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("diskfull: fill: %w", err)
	}
	defer f.Close()
	free = func() error {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("diskfull: free: %w", err)
		}
		return nil
	}
	// Large writes first, then small ones: tmpfs allocates pages, so the
	// last page-sized write that fits leaves no room at all.
	for _, chunk := range []int{1 << 20, 64 << 10, 4 << 10} {
		buf := make([]byte, chunk)
		for {
			if _, err = f.Write(buf); err != nil {
				break
			}
		}
		if !errors.Is(err, syscall.ENOSPC) {
			_ = free()
			return nil, fmt.Errorf("diskfull: fill: %w", err)
		}
	}
	return free, nil
}
