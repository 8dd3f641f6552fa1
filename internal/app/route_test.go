package app

import (
	"strings"
	"testing"
)

func TestPartitionsSettingIsValidated(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*Config)
		want string // in the error; "" for none
	}{
		{"off", func(c *Config) {}, ""},
		{"two", func(c *Config) { c.Partitions, c.Pipeline.Partition = 2, 1 }, ""},
		{"zero", func(c *Config) { c.Partitions = 0 }, "POMOCORE_PARTITIONS: 0: want 1..64"},
		{"too many", func(c *Config) { c.Partitions = 65 }, "POMOCORE_PARTITIONS: 65: want 1..64"},
		{"partition outside", func(c *Config) { c.Partitions, c.Pipeline.Partition = 2, 2 }, "POMOCORE_PARTITION: 2: want 0..1 with POMOCORE_PARTITIONS=2"},
		{"shadow", func(c *Config) { c.Partitions, c.Shadow = 2, true }, "POMOCORE_PARTITIONS: 2: shadow mode"},
		{"embedded", func(c *Config) { c.Partitions, c.Redis.Addrs = 2, nil }, "POMOCORE_PARTITIONS: 2: needs REDIS_ADDR"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Defaults()
			cfg.Redis.Addrs = []string{"redis:6379"}
			c.set(&cfg)
			cfg.Complete(func(string) bool { return false })
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}

func TestPartitionedAppReadsItsPartitionStream(t *testing.T) {
	cfg := Defaults()
	cfg.Redis.Addrs, cfg.Partitions, cfg.Pipeline.Partition = []string{"redis:6379"}, 4, 3
	cfg.Complete(func(string) bool { return false })
	a, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	got := a.Config()
	if got.Reader.Stream != "pattern_match_stream:p03" || a.Source() != "pattern_match_stream" || got.Committer.DeadStream != "pattern_match_stream:dead" {
		t.Errorf("stream %q, source %q, dead %q; want the partition p03 of pattern_match_stream, its one dead-letter stream", got.Reader.Stream, a.Source(), got.Committer.DeadStream)
	}
	if s := got.CommitterConfig().RecordScope; s != "pattern_match_stream:p03" {
		t.Errorf("record scope %q, want the partition stream", s)
	}
	one, _ := New(Defaults(), Deps{})
	oneCfg := one.Config()
	if oneCfg.Reader.Stream != "pattern_match_stream" || one.Source() != "" || oneCfg.CommitterConfig().RecordScope != "" {
		t.Error("POMOCORE_PARTITIONS=1 changed the stream or the records")
	}
}
