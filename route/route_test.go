package route_test

import (
	"testing"
	"time"

	"github.com/pomocore/pomocore/route"
)

// The hash is part of the deployment: a user's entries must keep their
// partition across versions, so its values are pinned.
func TestPartitionIsTheFixedFNV1aOfTheUserID(t *testing.T) {
	for _, c := range []struct {
		fields  []string
		n, want int
	}{
		{[]string{"userId", "user-1"}, 4, 0xf5537974 % 4},
		{[]string{"app", "x", "userId", "6543210fedcba98765432201"}, 64, 0x874f3b9a % 64},
		{[]string{"userId", "", "userId", "user-1"}, 4, 0xf5537974 % 4}, // the first non-empty
		{[]string{"app", "x"}, 4, 0},                                    // no userId: partition 0
		{[]string{"userId", "user-1"}, 1, 0},
	} {
		if got := route.Partition(c.fields, c.n); got != c.want {
			t.Errorf("Partition(%q, %d) = %d, want %d", c.fields, c.n, got, c.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg route.Config
		ok  bool
	}{
		{route.Config{Partitions: 1}, true},
		{route.Config{Partitions: 64}, true},
		{route.Config{Partitions: 0}, false},
		{route.Config{Partitions: 65}, false},
		{route.Config{Partitions: 2, Block: 5 * time.Second}, false}, // a read would outlast a third of the lease
		{route.Config{Partitions: 2, Batch: -1}, false},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v, want ok %v", c.cfg, err, c.ok)
		}
	}
}

// The defaults are written once, in DefaultConfig, and they validate.
func TestDefaultConfigIsValidAndFillsTheZeroFields(t *testing.T) {
	d := route.DefaultConfig()
	if err := d.Validate(); err != nil {
		t.Fatalf("DefaultConfig() does not validate: %v", err)
	}
	if d.Batch != 2000 || d.Block != time.Second || d.LeaseTTL != 10*time.Second || d.Timeout != 10*time.Second {
		t.Errorf("DefaultConfig() = %+v", d)
	}
	if err := (route.Config{Partitions: 2}).Validate(); err != nil {
		t.Errorf("a config naming only its partitions: %v", err)
	}
}
