package redis

import (
	"hash/fnv"
	"strconv"
	"testing"
)

// seenShard is FNV-1a written out: it must choose the shard hash/fnv
// chose, or every activity remembered before an upgrade is looked up in
// another shard and missed.
func TestSeenShardIsFNV1a(t *testing.T) {
	for i := range 10000 {
		key := strconv.FormatInt(int64(i)*7919, 16) + "65f0a1b2c3d4e5f6a7b8c9d0"[:i%25]
		h := fnv.New32a()
		_, _ = h.Write([]byte(key))
		if got, want := seenShard(key), int(h.Sum32()%SeenShards); got != want {
			t.Fatalf("seenShard(%q) = %d, want %d", key, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = seenShard("65f0a1b2c3d4e5f6a7b8c9d0") }); n != 0 {
		t.Errorf("seenShard allocates %v times", n)
	}
}
