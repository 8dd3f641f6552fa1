// Package redisproc is the one wait for a redis-server process this
// program started: until it answers on its address as itself, not as
// another server that took the port between the pick and the bind. The
// tests' servers (internal/redistest) and the bench's private one use it.
package redisproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// ErrPortTaken is AwaitReady's error when the server exited because its
// port was taken: start it again on another.
var ErrPortTaken = errors.New("port taken")

// AwaitReady waits up to 10 seconds until the redis-server of process pid
// answers on addr: INFO names its process id (or it asks for a password,
// which only it would). exited is closed when the process has exited; its
// log, at logPath, tells why (an exit because the port was taken wraps
// ErrPortTaken).
func AwaitReady(addr string, pid int, exited <-chan struct{}, logPath string) error {
	c := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	want := "process_id:" + strconv.Itoa(pid) + "\r\n"
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := c.Info(ctx, "server").Result()
		cancel()
		if goredis.HasErrorPrefix(err, "NOAUTH") || goredis.HasErrorPrefix(err, "WRONGPASS") {
			return nil // it answers; it just wants a password
		}
		if err == nil && strings.Contains(info, want) {
			return nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			if bytes.Contains(log, []byte("Address already in use")) {
				return fmt.Errorf("redis-server on %s: %w: %s", addr, ErrPortTaken, log)
			}
			return fmt.Errorf("redis-server exited at start: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s not ready after 10s: %v", addr, err)
		}
		time.Sleep(5 * time.Millisecond) // waiting for another process to listen, not synchronising goroutines
	}
}
