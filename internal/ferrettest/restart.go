package ferrettest

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Server is an embedded FerretDB that a test can stop and start again on
// the same address and data: a MongoDB-wire server going down and coming
// back, for outage tests.
type Server struct {
	t   testing.TB
	dir string
	// URI is the server's mongodb:// URI; it stays valid across restarts.
	URI string
	tcp string

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// StartServer starts a restartable embedded FerretDB on a free loopback
// port, waits until it answers a ping, and stops it when t ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("ferretdb: free port: %v", err)
	}
	tcp := l.Addr().String()
	_ = l.Close()
	s := &Server{t: t, dir: t.TempDir(), tcp: tcp}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server (again) and waits until it answers a ping; it
// does nothing when the server runs.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return
	}
	var f *ferretdb.FerretDB
	var err error
	// The port may still be held by the stopped listener for a moment.
	for deadline := time.Now().Add(10 * time.Second); ; {
		f, err = ferretdb.New(&ferretdb.Config{
			Listener:  ferretdb.ListenerConfig{TCP: s.tcp},
			Handler:   "sqlite",
			SQLiteURL: "file:" + s.dir + "/",
			Logger:    slog.New(slog.DiscardHandler),
		})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("ferretdb: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	s.cancel, s.done = cancel, done
	s.URI = f.MongoDBURI()
	client, err := mongo.Connect(options.Client().ApplyURI(s.URI).SetTimeout(5 * time.Second))
	if err != nil {
		s.t.Fatalf("ferretdb client: %v", err)
	}
	defer client.Disconnect(context.Background())
	for deadline := time.Now().Add(30 * time.Second); ; {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		err := client.Ping(pctx, nil)
		pcancel()
		if err == nil {
			return
		}
		select {
		case <-done:
			s.t.Fatalf("ferretdb at %s stopped while starting (port taken?)", s.tcp)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("ferretdb at %s not ready: %v", s.URI, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop stops the server and waits until it stopped listening; clients see
// their connections closed and new ones refused. It does nothing when the
// server is stopped.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.cancel, s.done = nil, nil
}
