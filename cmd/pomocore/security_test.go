package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/logtest"
	"github.com/pomocore/pomocore/internal/redistest"
)

// checkOneEntryCounted writes one entry through admin and waits until the
// pipeline has counted it.
func checkOneEntryCounted(t *testing.T, admin *goredis.Client, logs *logtest.Buffer) {
	t.Helper()
	checkEntryCounted(t, admin, logs, 42)
}

// checkEntryCounted writes one 42 s entry and waits until the user's score
// is want.
func checkEntryCounted(t *testing.T, admin *goredis.Client, logs *logtest.Buffer, want float64) {
	t.Helper()
	ctx := context.Background()
	ts := time.Now().Add(-time.Hour)
	if err := admin.XAdd(ctx, &goredis.XAddArgs{Stream: "pattern_match_stream",
		Values: contractEntry("sec-user", "Xcode", "", 42, ts, false)}).Err(); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, admin, "pattern_match_stream", "pattern_match_group", logs)
	seoul, _ := time.LoadLocation("Asia/Seoul")
	key := pomocore.LeaderboardKey("leaderboard", "Development", pomocore.PeriodsAt(ts, seoul).Day)
	if got := admin.ZScore(ctx, key, "sec-user").Val(); got != want {
		t.Errorf("%s = %v, want %v; dead letters %v; log:\n%s", key, got, want,
			admin.XRange(ctx, "pattern_match_stream:dead", "-", "+").Val(), logs.String())
	}
}

func TestRedisPasswordAndACLUser(t *testing.T) {
	const pw = "s3cret-redis-password"
	t.Run("requirepass", func(t *testing.T) {
		srv := redistest.Start(t, "--requirepass", pw)
		admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Password: pw})
		defer admin.Close()
		stop, logs := startRun(t, map[string]string{
			"REDIS_ADDR": srv.Addr(), "REDIS_PASSWORD": pw, "POMOCORE_BLOCK": "20ms",
			"POMOCORE_DATA_DIR": filepath.Join(t.TempDir(), "data"),
		})
		checkOneEntryCounted(t, admin, logs)
		stop()
		if strings.Contains(logs.String(), pw) {
			t.Errorf("the password is in the log:\n%s", logs.String())
		}
	})
	t.Run("acl-user", func(t *testing.T) {
		srv := redistest.Start(t, "--requirepass", "admin-"+pw, "--user", "pomocore", "on", ">acl-"+pw, "~*", "&*", "+@all")
		admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Password: "admin-" + pw})
		defer admin.Close()
		stop, logs := startRun(t, map[string]string{
			"REDIS_ADDR": srv.Addr(), "POMOCORE_REDIS_USERNAME": "pomocore", "REDIS_PASSWORD": "acl-" + pw,
			"POMOCORE_BLOCK": "20ms", "POMOCORE_DATA_DIR": filepath.Join(t.TempDir(), "data"),
		})
		checkOneEntryCounted(t, admin, logs)
		stop()
	})
}

func TestRedisTLS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeCerts(t, dir)
	srv, tlsPort := redistest.StartWithPort(t, "--tls-port", "--tls-cert-file", cert, "--tls-key-file", key,
		"--tls-ca-cert-file", ca, "--tls-auth-clients", "no")
	admin := srv.Client(t) // the plain port, for checking
	stop, logs := startRun(t, map[string]string{
		"REDIS_ADDR": net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort)), "POMOCORE_REDIS_TLS_CA_FILE": ca,
		"POMOCORE_BLOCK": "20ms", "POMOCORE_DATA_DIR": filepath.Join(t.TempDir(), "data"),
	})
	checkOneEntryCounted(t, admin, logs)
	stop()
	if !strings.Contains(logs.String(), "tls=true") {
		t.Errorf("log does not say TLS is on:\n%s", logs.String())
	}
}

// TestNoSecretsInLogs starts the pipeline with a wrong Redis password, then
// with a MongoDB URI holding credentials that cannot connect, and checks
// that neither secret appears in what it logs while it retries.
func TestNoSecretsInLogs(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "the-right-one")
	for name, env := range map[string]map[string]string{
		"wrong redis password": {"REDIS_ADDR": srv.Addr(), "REDIS_PASSWORD": "wrong-Pa55word-xyz"},
		"mongo credentials": {"REDIS_ADDR": srv.Addr(), "REDIS_PASSWORD": "the-right-one",
			"MONGO_URI":              "mongodb://pomo:m0ngo-Secret-77@127.0.0.1:" + strconv.Itoa(freePort(t)) + "/?authSource=admin&serverSelectionTimeoutMS=200",
			"POMOCORE_STORE_TIMEOUT": "300ms"},
	} {
		t.Run(name, func(t *testing.T) {
			env["POMOCORE_DATA_DIR"] = filepath.Join(t.TempDir(), "data")
			env["POMOCORE_LOG_FORMAT"] = "json"
			stop, logs := startRun(t, env)
			if !eventually.Within(30*time.Second, func() bool { return strings.Count(logs.String(), "not reachable") >= 2 }) {
				t.Fatalf("no retries logged:\n%s", logs.String())
			}
			stop()
			for _, secret := range []string{"wrong-Pa55word-xyz", "the-right-one", "m0ngo-Secret-77", "pomo:m0ngo"} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("log contains %q:\n%s", secret, logs.String())
				}
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	p, _ := strconv.Atoi(port)
	return p
}

// writeCerts writes a CA and a server certificate for 127.0.0.1 and
// localhost, returning the file names.
func writeCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pomocore test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", srvDER), write("server.key", "EC PRIVATE KEY", keyDER)
}

// TestRedisRestart restarts Redis under a running pipeline, without and
// with persistence: the pipeline reconnects, recreates the group when it is
// gone, and counts what is written after the restart.
func TestRedisRestart(t *testing.T) {
	for _, persist := range []bool{false, true} {
		t.Run("persistence="+strconv.FormatBool(persist), func(t *testing.T) {
			var args []string
			if persist {
				args = []string{"--appendonly", "yes", "--appendfsync", "always"}
			}
			srv := redistest.Start(t, args...)
			rdb := srv.Client(t)
			stop, logs := startRun(t, map[string]string{
				"REDIS_ADDR": srv.Addr(), "POMOCORE_BLOCK": "20ms",
				"POMOCORE_DATA_DIR": filepath.Join(t.TempDir(), "data"),
			})
			checkEntryCounted(t, rdb, logs, 42) // before the restart
			srv.Kill()
			// Down until the pipeline has noticed and backed off, then back.
			if !eventually.Within(20*time.Second, func() bool { return strings.Contains(logs.String(), "read failed; retrying") }) {
				t.Fatalf("no read retry logged while Redis was down:\n%s", logs.String())
			}
			srv.Restart(t)
			// Without persistence the restart lost the stream, the group and
			// the first 42 s; the pipeline recreates the group and goes on.
			want := 42.0
			if persist {
				want = 84
			}
			checkEntryCounted(t, rdb, logs, want)
			stop()
		})
	}
}
