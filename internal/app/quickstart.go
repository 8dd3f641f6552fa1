package app

import (
	"fmt"
	"net"
	"strings"
)

// embeddedNotice is what `pomocore run` prints on stdout when it starts the
// embedded Redis: the address it really listens on, loudly when that is
// not the one asked for (POMOCORE_EMBEDDED_REDIS_ADDR was taken, so a
// redis-cli at the usual port talks to another server), and the quick
// start's redis-cli lines with that address, the configured stream and
// key names and time zone, ready to paste.
func embeddedNotice(cfg Config, wanted, actual string) string {
	var b strings.Builder
	if wanted != actual {
		fmt.Fprintf(&b, "\n*** %s IS TAKEN (another Redis?): the embedded Redis listens on %s instead.\n"+
			"*** redis-cli at %s talks to that other server, not to pomocore: use the lines below.\n\n", wanted, actual, wanted)
	}
	fmt.Fprintf(&b, "embedded redis listening on %s (in memory: it starts empty on every run)\n", actual)
	host, port, err := net.SplitHostPort(actual)
	if err != nil {
		return b.String()
	}
	cli := "redis-cli -p " + port
	if host != "127.0.0.1" && host != "localhost" && host != "" && host != "::1" {
		cli = "redis-cli -h " + host + " -p " + port
	}
	fmt.Fprintf(&b, "try:\n"+
		"  %s XADD %s '*' userId u1 app 'Xcode 15' title 'main.go' url '' duration 1500 timestamp \"$(date +%%s)\" session 1 sessionDate \"$(date +%%F)\" sessionMinutes 25 isEnd true\n"+
		"  %s ZREVRANGE \"%s:Development:$(TZ=%s date +%%F)\" 0 -1 WITHSCORES\n"+
		"  %s XRANGE %s - +\n",
		cli, cfg.Reader.Stream, cli, cfg.Pipeline.KeyPrefix, cfg.TimeZone, cli, cfg.Committer.SessionStream)
	return b.String()
}
