package redis

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pomocore/pomocore/internal/redistest"
	"github.com/pomocore/pomocore/route"
)

// layoutItem is one item of a script's declared layout (scripts.go): a
// name, and for a repeated item its count (a name, a number or "*") and,
// for a repeated group, its items.
type layoutItem struct {
	name     string
	count    string // "": one value
	children []layoutItem
}

// scriptLayout reads the "-- KEYS = " and "-- ARGV = " lines of a
// script's header (a line of "--" and three or more spaces continues the
// one before).
func scriptLayout(t *testing.T, s *script) (keys, argv []layoutItem) {
	t.Helper()
	decl := map[string]string{}
	last := ""
	for _, line := range strings.Split(s.body, "\n") {
		switch {
		case strings.HasPrefix(line, "-- KEYS = "), strings.HasPrefix(line, "-- ARGV = "):
			last = line[3:7]
			if _, dup := decl[last]; dup {
				t.Fatalf("%s: two %s lines", s.name, last)
			}
			decl[last] = line[10:]
		case last != "" && strings.HasPrefix(line, "--   ") && strings.TrimSpace(line[2:]) != "":
			decl[last] += " " + line[2:]
		default:
			last = ""
		}
	}
	for _, which := range []string{"KEYS", "ARGV"} {
		if _, ok := decl[which]; !ok {
			t.Fatalf("%s declares no %s layout", s.name, which)
		}
	}
	return parseLayout(t, s.name, decl["KEYS"]), parseLayout(t, s.name, decl["ARGV"])
}

var layoutToken = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[\[\]{}*]`)

// parseLayout parses the layout grammar of scripts.go.
func parseLayout(t *testing.T, name, decl string) []layoutItem {
	t.Helper()
	toks := layoutToken.FindAllString(decl, -1)
	if strings.Join(toks, "") != strings.Join(strings.Fields(decl), "") {
		t.Fatalf("%s: layout %q holds characters outside the grammar", name, decl)
	}
	pos := 0
	var items func(end string) []layoutItem
	items = func(end string) []layoutItem {
		var out []layoutItem
		for pos < len(toks) && toks[pos] != end {
			it := layoutItem{name: toks[pos]}
			pos++
			if pos < len(toks) && toks[pos] == "[" {
				if pos+2 >= len(toks) || toks[pos+2] != "]" {
					t.Fatalf("%s: bad count of %s in %q", name, it.name, decl)
				}
				it.count = toks[pos+1]
				pos += 3
				if pos < len(toks) && toks[pos] == "{" {
					pos++
					it.children = items("}")
					if pos >= len(toks) {
						t.Fatalf("%s: unclosed group %s in %q", name, it.name, decl)
					}
					pos++
				}
			}
			out = append(out, it)
		}
		return out
	}
	out := items("")
	if pos != len(toks) {
		t.Fatalf("%s: stray %q in %q", name, toks[pos], decl)
	}
	return out
}

// expandLayout walks items over values (the values of a call, as strings)
// and returns the layout name of each value, and the values of the
// top-level single items by name: counts are read from the values named
// earlier (this group's, an enclosing group's, or scope's).
func expandLayout(items []layoutItem, values []string, scope map[string]string) ([]string, map[string]string, error) {
	var names []string
	top := map[string]string{}
	pos := 0
	var walk func(items []layoutItem, prefix string, scope map[string]string) error
	walk = func(items []layoutItem, prefix string, outer map[string]string) error {
		scope := map[string]string{}
		lookup := func(n string) (string, bool) {
			if v, ok := scope[n]; ok {
				return v, true
			}
			v, ok := outer[n]
			return v, ok
		}
		for k, it := range items {
			if it.count == "" {
				if pos >= len(values) {
					return fmt.Errorf("%s%s: past the end (%d values)", prefix, it.name, len(values))
				}
				scope[it.name] = values[pos]
				names = append(names, prefix+it.name)
				pos++
				continue
			}
			n := -1
			switch c := it.count; {
			case c == "*":
				if k != len(items)-1 || prefix != "" {
					return fmt.Errorf("%s[*] is not the last top-level item", it.name)
				}
			case c[0] >= '0' && c[0] <= '9':
				n, _ = strconv.Atoi(c)
			default:
				v, ok := lookup(c)
				if !ok {
					return fmt.Errorf("%s%s[%s]: no earlier %s", prefix, it.name, c, c)
				}
				var err error
				if n, err = strconv.Atoi(v); err != nil || n < 0 {
					return fmt.Errorf("%s%s[%s]: count %q", prefix, it.name, c, v)
				}
			}
			for i := 0; n < 0 && pos < len(values) || i < n; i++ {
				if it.children == nil {
					if pos >= len(values) {
						return fmt.Errorf("%s%s: past the end (%d values)", prefix, it.name, len(values))
					}
					names = append(names, prefix+it.name)
					pos++
					continue
				}
				inner := map[string]string{}
				for k, v := range outer {
					inner[k] = v
				}
				for k, v := range scope {
					inner[k] = v
				}
				if err := walk(it.children, prefix+it.name+".", inner); err != nil {
					return err
				}
			}
		}
		if prefix == "" {
			for k, v := range scope {
				top[k] = v
			}
		}
		return nil
	}
	if err := walk(items, "", scope); err != nil {
		return names, top, err
	}
	if pos != len(values) {
		return names, top, fmt.Errorf("%d values, the layout takes %d", len(values), pos)
	}
	return names, top, nil
}

// leadingScalars is how many single values come before items' first
// repeated one: the indexes a script may read as literals.
func leadingScalars(items []layoutItem) int {
	for i, it := range items {
		if it.count != "" {
			return i
		}
	}
	return len(items)
}

// layoutCase is a builder with repeated groups of different lengths, and
// what the server needs for its script to run through.
type layoutCase struct {
	b     scriptBuilder
	setup func(ctx context.Context, t *testing.T, rdb *goredis.Client)
}

func layoutCases() []layoutCase {
	const stream, group = "in", "g"
	ids := []string{"1-1", "1-2", "2-1"}
	deliver := func(ctx context.Context, t *testing.T, rdb *goredis.Client) {
		t.Helper()
		if err := rdb.XGroupCreateMkStream(ctx, stream, group, "0").Err(); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, ID: id, Values: []string{"n", "1"}}).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{stream, ">"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	board := func(key string, n int) *keyEffect {
		k := &keyEffect{key: key, ttl: 60, index: map[string]int{}}
		for i := range n {
			k.add("u"+strconv.Itoa(i), float64(i)+0.5)
		}
		return k
	}
	sections := []claimSection{
		{shard: 3, trim: true, entries: []int{0, 2}, pairs: []string{claimOf(entryID{1, 1}, true), "a", claimOf(entryID{2, 1}, true), "c"}},
		{shard: 7, entries: []int{1}, pairs: []string{claimOf(entryID{1, 2}, true), "b"}},
		{shard: 9, checkOnly: true, entries: []int{2}, pairs: []string{claimOf(entryID{2, 1}, true), "000000000000000000000002"}},
	}
	bits := []bitsSection{
		{key: "{in}:seen:000000000000000000:0", entries: []int{2, 1}, offsets: []byte{0, 2, 0, 17}, first: 0, last: 2},
		{key: "{in}:seen:000000000000000000:1", entries: []int{0}, offsets: []byte{31, 255}, first: 1023, last: 1023},
	}
	events := [2]output{
		{stream: "sessions", events: [][]string{{"userId", "u", "sessionDate", "d", "session", "1"}}},
		{stream: "dead", maxLen: 10, events: [][]string{{"dead.id", "1-1"}, {"dead.id", "1-2", "x", "y"}}},
	}
	seen := SeenKeys(stream, "")
	return []layoutCase{
		{b: &singleCall{stream: stream, intents: "{in}:intent", committed: "{in}:committed", group: group, ids: ids, lo: ids[0], hi: ids[2],
			cl: claims{since: "0", sections: sections, bits: bits, absent: []int{11, 12}}, seenKeys: seen, shardCap: 10, shardTTL: 60000,
			boards: []*keyEffect{board("b1", 2), board("b2", 1)}, outputs: events}, setup: deliver},
		{b: &claimCall{shardKey: seen[3], since: "0", shardCap: 10, shardTTL: 60000, mode: "claim", sec: &sections[0]}},
		{b: &claimCall{shardKey: seen[9], since: "0", shardCap: 10, shardTTL: 60000, mode: "claim", sec: &sections[2], bits: bits}},
		{b: &claimCall{shardKey: seen[3], since: "0", shardCap: 10, shardTTL: 60000, mode: "confirm", sec: &sections[0]}},
		{b: &beginCall{stream: stream, intents: "{in}:intent", tokens: "{in}:tokens", group: group, ttl: 60, token: "2-1/x", score: 2,
			fx: "2", lo: ids[0], hi: ids[2], ids: ids}, setup: deliver},
		{b: &incrCall{token: "t", score: 2, recordTTL: 60, k: board("b1", 3), record: "{b1}:applied"}},
		{b: &emitCall{token: "t", score: 2, recordTTL: 60, out: events[1], record: "{dead}:applied"}},
		{b: &ackCall{stream: stream, intents: "{in}:intent", tokens: "{in}:tokens", committed: "{in}:committed", group: group,
			forget: []string{"t1", "t2"}, ids: ids}, setup: deliver},
		{b: &trimCall{record: "{b1}:applied", floor: 5}},
		{b: &forgetCall{intents: "{in}:intent", tokens: "{in}:tokens", floor: 5}},
		{b: &janitorCall{stream: stream, group: group, keep: "c", idleMs: 0}, setup: deliver},
		{b: &routeCall{stream: "in:p00", fence: FenceKey("in:p00"), token: 3, entries: []route.Entry{
			{ID: "5-1", Fields: []string{"a", "1", "b", "2"}}, {ID: "5-2", Fields: []string{"a", "1"}}}}},
		{b: &leaseCall{lease: "lease", epoch: "epoch", op: "acquire", token: "0", ttlMs: 1000}},
		{b: &leaseCall{lease: "lease", epoch: "epoch", op: "renew", token: "1", ttlMs: 1000}},
		{b: &leaseCall{lease: "lease", epoch: "epoch", op: "release", token: "1", ttlMs: 0}},
	}
}

// TestScriptLayouts checks each script's builder against the layout its
// header declares: the builder writes exactly the declared KEYS and ARGV
// (names, positions, the counts of repeated items and groups, nothing
// before, between or after), and the script, run on those arguments,
// reads no ARGV or KEYS index outside them (each index is checked as it is
// read), nor a literal index past the layout's leading single values.
func TestScriptLayouts(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	covered := map[string]bool{}
	for i, c := range layoutCases() {
		s := c.b.script()
		covered[s.name] = true
		t.Run(fmt.Sprintf("%d_%s", i, s.name), func(t *testing.T) {
			keyItems, argItems := scriptLayout(t, s)
			w := scriptArgs{trace: true}
			c.b.build(&w)
			values := make([]string, len(w.args))
			for j, a := range w.args {
				values[j] = fmt.Sprint(a)
			}
			want, top, err := expandLayout(argItems, values, nil)
			if err != nil {
				t.Fatalf("ARGV %q against the layout: %v", values, err)
			}
			if strings.Join(w.argNames, " ") != strings.Join(want, " ") {
				t.Errorf("ARGV names\n got %v\nwant %v", w.argNames, want)
			}
			wantKeys, _, err := expandLayout(keyItems, w.keys, top)
			if err != nil {
				t.Fatalf("KEYS %q against the layout: %v", w.keys, err)
			}
			if strings.Join(w.keyNames, " ") != strings.Join(wantKeys, " ") {
				t.Errorf("KEYS names\n got %v\nwant %v", w.keyNames, wantKeys)
			}
			checkLiterals(t, s, "ARGV", leadingScalars(argItems))
			checkLiterals(t, s, "KEYS", leadingScalars(keyItems))

			if err := rdb.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if c.setup != nil {
				c.setup(ctx, t, rdb)
			}
			if err := rdb.Eval(ctx, instrument(s.src), w.keys, w.args...).Err(); err != nil && err != goredis.Nil {
				t.Fatalf("%s on its builder's arguments: %v", s.name, err)
			}
		})
	}
	files, err := filepath.Glob("*.lua")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if why, ok := withoutBuilder[f]; ok {
			if covered[f] {
				t.Errorf("%s has a builder now: take it off withoutBuilder (%s)", f, why)
			}
			continue
		}
		if f != "lib.lua" && !covered[f] {
			t.Errorf("%s has no case here: give it a layout header, a builder (scripts.go) and a layoutCase", f)
		}
	}
}

// withoutBuilder are the scripts not yet called through a builder, and
// why: each should get a layout header, a builder (scripts.go) and a
// layoutCase, and leave this list.
var withoutBuilder = map[string]string{}

// checkLiterals fails when script reads table (ARGV or KEYS) at a literal
// index past the layout's n leading single values.
func checkLiterals(t *testing.T, s *script, table string, n int) {
	t.Helper()
	for _, m := range regexp.MustCompile(table+`\[(\d+)\]`).FindAllStringSubmatch(s.src, -1) {
		if k, _ := strconv.Atoi(m[1]); k < 1 || k > n {
			t.Errorf("%s reads %s: the layout has %d single values before its first repeated item", s.name, m[0], n)
		}
	}
}

// instrument rewrites every ARGV[i] and KEYS[i] of src, and every
// unpack(ARGV, i, j), to fail the script when an index is outside the
// table (a read Lua would answer with nil).
func instrument(src string) string {
	for _, table := range []string{"ARGV", "KEYS"} {
		src = strings.ReplaceAll(src, "unpack("+table+", ", "layout_unpack("+table+", '"+table+"', ")
	}
	return `local function layout_check(t, name, i)
  if type(i) ~= 'number' or i < 1 or i > #t or i % 1 ~= 0 then
    error('pomocore layout: ' .. name .. '[' .. tostring(i) .. '] of ' .. #t)
  end
end
local function layout_at(t, name, i)
  layout_check(t, name, i)
  return t[i]
end
local function layout_unpack(t, name, i, j)
  layout_check(t, name, i)
  layout_check(t, name, j)
  return unpack(t, i, j)
end
` + instrumentIndexes(src)
}

// instrumentIndexes rewrites ARGV[i] and KEYS[i] (nested ones too) of src
// into layout_at calls.
func instrumentIndexes(src string) string {
	for _, table := range []string{"ARGV", "KEYS"} {
		var b strings.Builder
		for {
			i := strings.Index(src, table+"[")
			if i < 0 {
				b.WriteString(src)
				break
			}
			b.WriteString(src[:i])
			depth, j := 0, i+len(table)
			for ; j < len(src); j++ {
				if src[j] == '[' {
					depth++
				} else if src[j] == ']' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			fmt.Fprintf(&b, "layout_at(%s, '%s', %s)", table, table, instrumentIndexes(src[i+len(table)+1:j]))
			src = src[j+1:]
		}
		src = b.String()
	}
	return src
}

// TestInstrumentCatchesAReadPastTheEnd: the check TestScriptLayouts relies
// on fails a script that reads past its arguments.
func TestInstrumentCatchesAReadPastTheEnd(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	for _, src := range []string{"return ARGV[#ARGV + 1]", "return {unpack(ARGV, 1, 3)}", "return KEYS[2]", "return ARGV[ARGV[1] + 1]"} {
		err := rdb.Eval(ctx, instrument(src), []string{"k"}, "2", "x").Err()
		if err == nil || !strings.Contains(err.Error(), "pomocore layout") {
			t.Errorf("%q: %v, want a layout error", src, err)
		}
	}
	if err := rdb.Eval(ctx, instrument("return {ARGV[1], KEYS[1], unpack(ARGV, 1, 2)}"), []string{"k"}, "1", "x").Err(); err != nil {
		t.Errorf("reads within: %v", err)
	}
}
