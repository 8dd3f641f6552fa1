// Package redis is the Redis adapter: the input stream Reader, the atomic
// batch Committer, and the client they share. It implements ports declared
// by package pipeline.
package redis

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
)

// Modes of Config.Mode.
const (
	// Standalone is one Redis server (Addrs holds one address).
	Standalone = "standalone"
	// Cluster is a Redis Cluster; Addrs lists seed nodes.
	Cluster = "cluster"
	// Sentinel is a master found through Sentinels; Addrs lists the
	// Sentinels and MasterName names the master.
	Sentinel = "sentinel"
)

// Config is how to reach Redis. The zero value of a duration means its
// default.
type Config struct {
	// Mode is Standalone (default), Cluster or Sentinel.
	Mode string
	// Addrs lists host:port addresses: the server, the cluster's seed
	// nodes, or the Sentinels.
	Addrs []string
	// MasterName is the Sentinel master name (Sentinel mode only).
	MasterName string
	// Username is the ACL user (empty for the default user).
	Username string
	// Password authenticates (REDIS_PASSWORD); never logged.
	Password string
	// DB selects the database of a standalone server.
	DB int
	// TLS turns on TLS, verifying the server against the system roots or
	// TLSCAFile.
	TLS bool
	// TLSCAFile is a PEM file of CA certificates to trust instead of the
	// system roots (implies TLS).
	TLSCAFile string
	// TLSServerName overrides the name the server certificate is checked
	// against (default: the host of the address).
	TLSServerName string
	// DialTimeout bounds connecting (default 5s).
	DialTimeout time.Duration
	// ReadTimeout bounds one reply (default 10s); it must exceed the
	// pipeline's read BLOCK time.
	ReadTimeout time.Duration
	// WriteTimeout bounds sending one command (default 5s).
	WriteTimeout time.Duration
	// PoolSize is the connection pool size (default 10 per CPU, go-redis's).
	PoolSize int
}

// DefaultConfig returns the client's defaults: a standalone server (no
// address: the caller names it), the default timeouts, go-redis's pool.
func DefaultConfig() Config {
	return Config{DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 5 * time.Second}
}

// withDefaults fills the zero durations of c from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.DialTimeout = cmp.Or(c.DialTimeout, d.DialTimeout)
	c.ReadTimeout = cmp.Or(c.ReadTimeout, d.ReadTimeout)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, d.WriteTimeout)
	return c
}

// Validate reports settings that cannot work, as they are (NewClient
// fills the zero durations from DefaultConfig first), each as a
// *pomocore.ConfigError naming the Config field (joined). No error shows
// the password.
func (c Config) Validate() error {
	var errs pomocore.ConfigErrors
	bad := errs.Add
	if len(c.Addrs) == 0 {
		bad("Addrs", "no address")
	}
	if slices.Contains(c.Addrs, "") {
		bad("Addrs", "empty address")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"DialTimeout", c.DialTimeout}, {"ReadTimeout", c.ReadTimeout}, {"WriteTimeout", c.WriteTimeout}} {
		if d.v <= 0 {
			bad(d.name, "%v: want > 0", d.v)
		}
	}
	if c.DB < 0 {
		bad("DB", "%d: want >= 0", c.DB)
	}
	switch c.Mode {
	case "", Standalone:
		if len(c.Addrs) > 1 {
			bad("Mode", "%d addresses for a standalone server: set the mode to cluster or sentinel, or give one address", len(c.Addrs))
		}
	case Cluster:
		if c.DB != 0 {
			bad("DB", "%d: a cluster has only database 0", c.DB)
		}
	case Sentinel:
		if c.MasterName == "" {
			bad("MasterName", "empty: sentinel mode needs the master name")
		}
	default:
		bad("Mode", "%q: want standalone, cluster or sentinel", c.Mode)
	}
	return errors.Join(errs...)
}

// NewClient returns a go-redis client for cfg: a *goredis.Client for a
// standalone server or a Sentinel-managed master, a *goredis.ClusterClient
// for a cluster. Every command it sends is
// bounded by the configured timeouts.
func NewClient(cfg Config) (goredis.UniversalClient, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	var tlsCfg *tls.Config
	if cfg.TLS || cfg.TLSCAFile != "" {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
		if cfg.TLSCAFile != "" {
			pem, err := os.ReadFile(cfg.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("redis: TLS CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("redis: TLS CA file %s: no PEM certificate in it", cfg.TLSCAFile)
			}
			tlsCfg.RootCAs = pool
		}
	}
	// One set of options for every kind of client: go-redis derives the
	// cluster, Sentinel and single-node options from it.
	opts := &goredis.UniversalOptions{
		Addrs:            cfg.Addrs,
		MasterName:       cfg.MasterName,
		Username:         cfg.Username,
		Password:         cfg.Password,
		SentinelUsername: cfg.Username,
		SentinelPassword: cfg.Password,
		DB:               cfg.DB,
		TLSConfig:        tlsCfg,
		DialTimeout:      cfg.DialTimeout,
		ReadTimeout:      cfg.ReadTimeout,
		WriteTimeout:     cfg.WriteTimeout,
		PoolSize:         cfg.PoolSize,
		MaxRedirects:     8,
		MaxRetries:       2,
		// A deadline on a command's context bounds it (the Reader bounds
		// each read so; probes bound theirs), not only the timeouts above.
		ContextTimeoutEnabled: true,
		MinRetryBackoff:       8 * time.Millisecond,
		MaxRetryBackoff:       512 * time.Millisecond,
	}
	switch cfg.Mode {
	case Cluster:
		co := opts.Cluster()
		// A killed master refuses connections without redirecting: only a
		// reload of the slot map finds the promoted replica.
		co.ClusterStateReloadInterval = 2 * time.Second
		return goredis.NewClusterClient(co), nil
	case Sentinel:
		return goredis.NewFailoverClient(opts.Failover()), nil
	}
	return goredis.NewClient(opts.Simple()), nil
}
