package doctor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pomocore/pomocore/doctor"
)

// versions is a doctor.ServerInspector answering fixed versions (the
// real one is tested in redis/ against redis-server; no test server is
// older than 6.2).
type versions struct {
	v   map[string]string
	err error
}

func (f versions) ServerVersions(context.Context) (map[string]string, error) { return f.v, f.err }

func TestDoctorBlocksARedisOlderThan62(t *testing.T) {
	ctx := context.Background()
	rep, err := doctor.Run(ctx, doctor.Config{Now: time.Now}, doctor.Sources{Server: versions{v: map[string]string{
		"old:6379": "6.0.16", "new:6379": "7.0.15", "edge:6379": "6.2.0", "rc:6379": "6.2-rc1", "odd:6379": "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, rep, "redis server", "version old:6379", doctor.Blocker, "Redis 6.0.16 at old:6379 is too old", "needs Redis >= 6.2.0", "ZMSCORE")
	expect(t, rep, "redis server", "version new:6379", doctor.OK, "7.0.15")
	expect(t, rep, "redis server", "version edge:6379", doctor.OK, "6.2.0")
	expect(t, rep, "redis server", "version rc:6379", doctor.OK, "6.2-rc1")
	expect(t, rep, "redis server", "version odd:6379", doctor.Warn, `"x"`)
	if rep.Verdict != doctor.Blocker {
		t.Errorf("verdict %s, want blocker", rep.Verdict)
	}

	rep, err = doctor.Run(ctx, doctor.Config{Now: time.Now}, doctor.Sources{Server: versions{err: errors.New("unknown section")}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, rep, "redis server", "version", doctor.Warn, "cannot read the Redis version", "unknown section")
}
