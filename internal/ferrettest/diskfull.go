package ferrettest

import (
	"testing"

	"github.com/pomocore/pomocore/internal/diskfull"
)

// StartServerOnTmpfs is StartServer with the server's SQLite files on a
// tmpfs of size bytes that the test mounts (and unmounts when t ends), so
// that FillDisk can make the server's writes fail with ENOSPC, as on a full
// disk. Mounting needs root (CAP_SYS_ADMIN), as CI runs the tests; without
// it t is skipped, saying so.
func StartServerOnTmpfs(t testing.TB, size int64) *Server {
	t.Helper()
	// The tmpfs is registered before the server's Stop: the server is
	// killed first, then the tmpfs unmounted, then the directory removed.
	return StartServerIn(t, diskfull.Tmpfs(t, size))
}

// FillDisk fills the filesystem of the server's files (diskfull.Fill):
// the server's writes that need space fail as on a full disk. The returned
// func removes the ballast. Meant for StartServerOnTmpfs's server.
func (s *Server) FillDisk() (free func() error, err error) { return diskfull.Fill(s.dir) }
