package ferrettest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// StartServerOnTmpfs is StartServer with the server's SQLite files on a
// tmpfs of size bytes that the test mounts (and unmounts when t ends), so
// that FillDisk can make the server's writes fail with ENOSPC, as on a full
// disk. Mounting needs root (CAP_SYS_ADMIN), as CI runs the tests; without
// it t is skipped, saying so.
func StartServerOnTmpfs(t testing.TB, size int64) *Server {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("a full disk under FerretDB needs a tmpfs mounted by the test, which needs root (CAP_SYS_ADMIN; CI runs as root): mount: %v", err)
	}
	// Registered after t.TempDir and before the server's Stop: the server
	// is killed first, then the tmpfs unmounted, then the directory removed.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("ferretdb: unmount the tmpfs at %s: %v", dir, err)
		}
	})
	return StartServerIn(t, dir)
}

// FillDisk fills the filesystem of the server's files with a ballast file
// until a write fails with ENOSPC, so that the server's writes that need
// space fail as on a full disk (those that rewrite space already held, as
// of SQLite's write-ahead log once checkpointed, may still succeed, as on
// a real full disk). The returned func removes the ballast. Meant for
// StartServerOnTmpfs's server: on a large filesystem it would fill that.
func (s *Server) FillDisk() (free func() error, err error) {
	path := filepath.Join(s.dir, "ballast")
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("ferretdb: fill disk: %w", err)
	}
	defer f.Close()
	free = func() error {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("ferretdb: free disk: %w", err)
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
			return nil, fmt.Errorf("ferretdb: fill disk: %w", err)
		}
	}
	return free, nil
}
