package redis

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pomocore/pomocore/pipeline"
)

// effects is what one token (one commit attempt's entries) does to Redis:
// summed increments per leaderboard key, and events for the session and
// dead-letter streams. Keys and members keep first-seen order, so that the
// same entries always give the same sums, to the last bit.
type effects struct {
	keys     []*keyEffect
	byKey    map[string]*keyEffect
	sessions [][]string // field/value pairs per event
	deads    [][]string
}

// keyEffect is the increments of one leaderboard key.
type keyEffect struct {
	key     string
	ttl     int64 // seconds; 0: leave the key's expiry alone
	members []string
	sums    []float64
	index   map[string]int
}

// effectsOf sums the entries' effects; dead letters keep at most deadMax
// bytes of each field name and value (see CommitterConfig.DeadValueMax).
func effectsOf(entries []pipeline.CommitEntry, deadMax int) *effects {
	fx := &effects{byKey: map[string]*keyEffect{}}
	for i := range entries {
		e := &entries[i]
		if inc := e.Increment; inc != nil {
			for j, k := range inc.Keys {
				ke := fx.byKey[k]
				if ke == nil {
					ke = &keyEffect{key: k, index: map[string]int{}}
					fx.byKey[k] = ke
					fx.keys = append(fx.keys, ke)
				}
				if j < len(inc.TTLs) && inc.TTLs[j] > 0 {
					ke.ttl = max(ke.ttl, int64(inc.TTLs[j]/time.Second))
				}
				ke.add(inc.Member, inc.Delta)
			}
		}
		if s := e.SessionEnd; s != nil {
			fx.sessions = append(fx.sessions, []string{"userId", s.UserID, "sessionDate", s.SessionDate, "session", strconv.Itoa(s.Session)})
		}
		if d := e.Dead; d != nil {
			nf := len(d.Fields) / 2 * 2
			f := make([]string, 0, 6+nf)
			f = append(f, "dead.id", e.ID, "dead.reason", bounded(d.Reason, deadMax), "dead.kind", bounded(d.Kind, deadMax))
			for j := 0; j < nf; j += 2 {
				name, value := bounded(d.Fields[j], deadMax), d.Fields[j+1]
				f = append(f, name, bounded(value, deadMax))
				if len(value) > deadMax {
					sum := sha256.Sum256([]byte(value))
					f = append(f, name+".size", strconv.Itoa(len(value)), name+".sha256", hex.EncodeToString(sum[:]))
				}
			}
			fx.deads = append(fx.deads, f)
		}
	}
	return fx
}

// bounded returns s cut to at most n bytes, at a UTF-8 boundary.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && cut > n-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func (k *keyEffect) add(member string, delta float64) {
	if i, ok := k.index[member]; ok {
		k.sums[i] += delta
		return
	}
	k.index[member] = len(k.members)
	k.members = append(k.members, member)
	k.sums = append(k.sums, delta)
}

// encode writes fx for begin.lua to keep: "2" (the format version), then
// length-prefixed strings ("<len>:<bytes>"): the number of keys, per key
// its name, TTL seconds, number of members and (member, sum) pairs; then
// the number of session events and per event its number of strings and
// the strings; the same for dead letters.
func (fx *effects) encode() string {
	var b strings.Builder
	b.WriteByte('2')
	put := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	num := func(n int) { put(strconv.Itoa(n)) }
	num(len(fx.keys))
	for _, k := range fx.keys {
		put(k.key)
		put(strconv.FormatInt(k.ttl, 10))
		num(len(k.members))
		for i, m := range k.members {
			put(m)
			put(strconv.FormatFloat(k.sums[i], 'g', 17, 64))
		}
	}
	for _, events := range [][][]string{fx.sessions, fx.deads} {
		num(len(events))
		for _, ev := range events {
			num(len(ev))
			for _, s := range ev {
				put(s)
			}
		}
	}
	return b.String()
}

var errBadEffects = errors.New("malformed stored effects")

// decodeEffects reverses encode.
func decodeEffects(s string) (*effects, error) {
	fx := &effects{byKey: map[string]*keyEffect{}}
	if !strings.HasPrefix(s, "2") {
		return nil, fmt.Errorf("%w: unknown format", errBadEffects)
	}
	rest := s[1:]
	var bad error
	next := func() string {
		if bad != nil {
			return ""
		}
		n, after, ok := strings.Cut(rest, ":")
		l, err := strconv.Atoi(n)
		if !ok || err != nil || l < 0 || l > len(after) {
			bad = fmt.Errorf("%w: at byte %d", errBadEffects, len(s)-len(rest))
			return ""
		}
		rest = after[l:]
		return after[:l]
	}
	num := func() int {
		n, err := strconv.Atoi(next())
		if bad == nil && (err != nil || n < 0 || n > len(s)) {
			bad = fmt.Errorf("%w: count at byte %d", errBadEffects, len(s)-len(rest))
		}
		if bad != nil {
			return 0
		}
		return n
	}
	for range num() {
		k := &keyEffect{key: next(), index: map[string]int{}}
		ttl, err := strconv.ParseInt(next(), 10, 64)
		if err != nil && bad == nil {
			bad = fmt.Errorf("%w: ttl of %s", errBadEffects, k.key)
		}
		k.ttl = ttl
		for range num() {
			m := next()
			v, err := strconv.ParseFloat(next(), 64)
			if err != nil && bad == nil {
				bad = fmt.Errorf("%w: sum of %s in %s", errBadEffects, m, k.key)
			}
			k.add(m, v)
		}
		fx.byKey[k.key] = k
		fx.keys = append(fx.keys, k)
	}
	for _, events := range []*[][]string{&fx.sessions, &fx.deads} {
		for range num() {
			ev := make([]string, num())
			for i := range ev {
				ev[i] = next()
			}
			*events = append(*events, ev)
		}
	}
	if bad == nil && rest != "" {
		bad = fmt.Errorf("%w: %d bytes left over", errBadEffects, len(rest))
	}
	if bad != nil {
		return nil, bad
	}
	return fx, nil
}
