-- single.lua: a whole commit in one script, on a single server (standalone
-- or Sentinel-managed, not a Cluster, where the keys live in other slots):
-- the batch's entries are acknowledged and their summed effects applied
-- atomically, so each applies exactly once. It needs every entry pending
-- and none given to a token by a three-step commit (begin.lua) that did not
-- finish; otherwise it writes nothing and returns {'steps'}, and the caller
-- commits the batch in three steps, which sorts such entries out. When
-- another stream entry claimed an entry's activity within the window (a
-- producer retry), it writes nothing and returns {'dups', ordinals...}
-- (the claims' places in the claims section, lib.lua):
-- the caller drops those entries' effects and commits again. Otherwise it
-- records the batch's claims (lib.lua's dedup state) with the commit:
-- in the seen shards, and as bits in the seen bitmaps for the activities
-- the caller sends as bits. Activities sent only as bits need their seen
-- shards absent (na of them: no unfinished claim of a three-step commit
-- or of an adoption can be there): when one exists, it writes nothing and
-- returns {'full'}, and the caller sends them again in the claims section
-- too, flagged "c" (checked against the shard, kept as bits).
--
-- KEYS[1] input stream, KEYS[2] intents (as in begin.lua), KEYS[3] the
-- committed positions "{<stream>}:committed" (hash: group -> largest
-- acknowledged entry id), then L leaderboards, then the session stream and
-- the dead-letter stream, then the ns seen shards of the claims, the nb
-- seen bitmaps of the bits section, and the na seen shards that must be
-- absent.
-- ARGV: group, n, the smallest and largest entry id, since (claim units:
-- the window's start), the most claims a shard keeps (0: no cap), the
-- shards' and bitmaps' ttl in ms, ns, nb, na, the n entry ids, the claims
-- section and the bits section (lib.lua); then L; per leaderboard its ttl seconds (0: leave), m and m (member, sum)
-- pairs; then for each of the two streams its MAXLEN (0: no cap), its
-- number of events, and per event f and f field/value pairs.
-- Returns {'ok', acknowledged}, {'steps'}, {'full'}, {'dups', ordinals...}, or,
-- writing nothing, {'blocked', key, type, ...}: the leaderboards and
-- output streams (with events in this commit) that hold another type.
-- Uses want_type, ids_at, pending_of, add_events, add_events_skip,
-- claim_skip, claim_dups, claim_record, bits_dups,
-- bits_record, entry_ms and raise_mark of lib.lua.
--
-- KEYS = stream intents committed boards[L] session dead shards[ns] bitmaps[nb] absent[na]
-- ARGV = group n lo hi since cap ttl ns nb na ids[n] claims[ns]{m trim pairs[m]{claim member}}
--       bits[nb]{m first last offsets} L boards[L]{ttl m sums[m]{member sum}}
--       outputs[2]{maxlen count events[count]{f fields[f]{field value}}}

local group, n, lo, hi = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local since, cap, ttl, ns = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local nb, na = tonumber(ARGV[9]), tonumber(ARGV[10])
local first = 10
local keysAt = first + n + 1
local bitsAt, nclaims = claim_skip(keysAt, ns)
local p = bitsAt + 4 * nb
local nboards = tonumber(ARGV[p])
local shards = 5 + nboards -- KEYS[shards + s] is seen shard s
local bitmaps = shards + ns -- KEYS[bitmaps + b] is seen bitmap b
if na > 0 and redis.call('EXISTS', unpack(KEYS, bitmaps + nb + 1, bitmaps + nb + na)) > 0 then
  return {'full'}
end
local err = want_type(KEYS[1], 'stream') or want_type(KEYS[2], 'hash') or want_type(KEYS[3], 'hash')
if err then return err end
-- A target key of another type blocks only the entries that touch it: the
-- caller drops those and commits the rest.
local blocked = {'blocked'}
local function check(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    blocked[#blocked + 1] = key
    blocked[#blocked + 1] = t
  end
end
local q = p + 1
for i = 4, 3 + nboards do
  check(KEYS[i], 'zset')
  q = q + 2 + 2 * tonumber(ARGV[q + 1])
end
for s = 1, 2 do
  if tonumber(ARGV[q + 1]) > 0 then
    check(KEYS[3 + nboards + s], 'stream')
  end
  q = add_events_skip(q + 2, tonumber(ARGV[q + 1]))
end
if #blocked > 1 then return blocked end

-- Every entry pending.
local pending = pending_of(KEYS[1], group, lo, hi, n, first)
for i = 1, n do
  if not pending[ARGV[first + i]] then
    return {'steps'}
  end
end
-- No entry given to a token.
if redis.call('EXISTS', KEYS[2]) == 1 then
  for c = 1, n, 1000 do
    for _, h in ipairs(redis.call('HMGET', KEYS[2], unpack(ids_at(first, c, math.min(n, c + 999))))) do
      if h then return {'steps'} end
    end
  end
end
-- No activity claimed by another entry.
local dups = claim_dups(shards, ns, keysAt, since)
local regions = bits_dups(bitmaps, nb, bitsAt, nclaims, dups, since)
if #dups > 0 then
  table.insert(dups, 1, 'dups')
  return dups
end

local acked = 0
for c = 1, n, 1000 do
  acked = acked + redis.call('XACK', KEYS[1], group, unpack(ids_at(first, c, math.min(n, c + 999))))
end
claim_record(shards, ns, keysAt, since, cap, ttl)
bits_record(bitmaps, nb, bitsAt, regions, ttl, entry_ms(hi))
raise_mark(KEYS[3], KEYS[1], group, hi)

p = p + 1
for k = 1, nboards do
  local key = KEYS[3 + k]
  local ttl, m = tonumber(ARGV[p]), tonumber(ARGV[p + 1])
  p = p + 2
  for j = p, p + 2 * m - 1, 2 do
    redis.call('ZINCRBY', key, ARGV[j + 1], ARGV[j])
  end
  p = p + 2 * m
  if ttl > 0 then redis.call('EXPIRE', key, ttl) end
end
for s = 1, 2 do
  local maxlen, events = tonumber(ARGV[p]), tonumber(ARGV[p + 1])
  p = add_events(KEYS[3 + nboards + s], maxlen, events, p + 2)
end
return {'ok', acked}
