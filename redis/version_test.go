package redis_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/redis"
)

func TestInspectorReadsTheServerVersionOfEveryMaster(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	want := ""
	for _, l := range strings.Split(rdb.Info(ctx, "server").Val(), "\r\n") {
		if v, ok := strings.CutPrefix(l, "redis_version:"); ok {
			want = v
		}
	}
	got, err := redis.NewInspector(rdb).ServerVersions(ctx)
	if err != nil || len(got) != 1 || got[srv.Addr()] != want || want == "" {
		t.Fatalf("versions %v, %v; want %s: %q", got, err, srv.Addr(), want)
	}

	cl := redistest.StartCluster(t, 3, 1)
	got, err = redis.NewInspector(cl.Client(t)).ServerVersions(ctx)
	if err != nil || len(got) != 3 {
		t.Fatalf("cluster versions %v, %v; want the 3 masters'", got, err)
	}
	for addr, v := range got {
		if v != want {
			t.Errorf("%s: %q, want %q", addr, v, want)
		}
	}
}
