package redis

import goredis "github.com/redis/go-redis/v9"

// NewThreeStepCommitter returns a Committer that commits in the three
// steps of a Cluster even on a single server, for the tests that prove the
// two ways keep each other exactly-once.
func NewThreeStepCommitter(rdb goredis.UniversalClient, cfg CommitterConfig) (*Committer, error) {
	c, err := NewCommitter(rdb, cfg)
	if c != nil {
		c.single = false
	}
	return c, err
}
