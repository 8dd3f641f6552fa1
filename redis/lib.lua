-- lib.lua: the library of the commit scripts (begin.lua, incr.lua,
-- emit.lua, single.lua): functions they share. Go prepends it to each
-- (redis/committer.go), so each is still one script.

-- want_type returns an error reply when key exists with another type than
-- want, before the script writes anything.
local function want_type(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    return redis.error_reply('WRONGTYPE pomocore commit: key ' .. key .. ' holds a ' .. t .. ', want a ' .. want)
  end
end

-- has_token tells whether the applied record lists token already, or the
-- token (its score) is below the record's floor: either way its share must
-- not be applied again.
local function has_token(record, token, score)
  local floor = tonumber(redis.call('ZSCORE', record, 'floor')) or -1
  return score < floor or redis.call('ZSCORE', record, token) ~= false
end

-- ids_at returns the entry ids ARGV[first + from .. first + to].
local function ids_at(first, from, to)
  local ids = {}
  for i = from, to do
    ids[#ids + 1] = ARGV[first + i]
  end
  return ids
end

-- pending_of returns the set of the n entry ids ARGV[first + 1 ..
-- first + n], between lo and hi, that are pending in group of stream: one
-- range query (other consumers' entries in the range come too), then one
-- query per entry not seen when the range held more than the query
-- returned.
local function pending_of(stream, group, lo, hi, n, first)
  local limit = 4 * n + 64
  local pending, seen = {}, 0
  for _, p in ipairs(redis.call('XPENDING', stream, group, lo, hi, limit)) do
    pending[p[1]] = true
    seen = seen + 1
  end
  if seen >= limit then
    for i = 1, n do
      local id = ARGV[first + i]
      if not pending[id] and #redis.call('XPENDING', stream, group, id, id, 1) > 0 then
        pending[id] = true
      end
    end
  end
  return pending
end

-- add_events appends to stream up to count events read from ARGV at p
-- (per event: f, then f field/value pairs), stopping at the end of ARGV,
-- capped at about maxlen entries (0: no cap). It returns the index after
-- the last event read.
local function add_events(stream, maxlen, count, p)
  for _ = 1, count do
    if p > #ARGV then break end
    local f = tonumber(ARGV[p])
    local fields = {}
    for j = p + 1, p + 2 * f do
      fields[#fields + 1] = ARGV[j]
    end
    if maxlen > 0 then
      redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', unpack(fields))
    else
      redis.call('XADD', stream, '*', unpack(fields))
    end
    p = p + 1 + 2 * f
  end
  return p
end

-- add_events_skip returns the index after count events in ARGV at p, as
-- add_events reads them, without adding them.
local function add_events_skip(p, count)
  for _ = 1, count do
    if p > #ARGV then break end
    p = p + 1 + 2 * tonumber(ARGV[p])
  end
  return p
end

-- duplicates returns the positions (1-based, in this commit's entries) of
-- the entries whose activity was already committed within the window: of
-- the nk (position, activity key) pairs in ARGV from p, those whose key
-- seen holds with a score (commit time, ms) at or after since.
local function duplicates(seen, nk, p, since)
  local dups = {}
  for j = p, p + 2 * nk - 1, 2 do
    local s = redis.call('ZSCORE', seen, ARGV[j + 1])
    if s and tonumber(s) >= since then
      dups[#dups + 1] = tonumber(ARGV[j])
    end
  end
  return dups
end

-- remember records the activity keys of the nk (position, key) pairs in
-- ARGV from p as committed at now, after forgetting the keys committed
-- before since; beyond cap keys it forgets the oldest (the window shrinks
-- rather than memory grow); seen expires one window after its last write.
local function remember(seen, nk, p, now, since, cap)
  if nk == 0 then return end
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. since)
  local last = p + 2 * nk - 1
  for c = p, last, 2000 do
    local args = {}
    for j = c, math.min(last, c + 1999), 2 do
      args[#args + 1] = now
      args[#args + 1] = ARGV[j + 1]
    end
    redis.call('ZADD', seen, unpack(args))
  end
  local over = redis.call('ZCARD', seen) - cap
  if over > 0 then
    redis.call('ZREMRANGEBYRANK', seen, 0, over - 1)
  end
  redis.call('PEXPIRE', seen, math.max(1, now - since))
end

-- id_less orders two stream entry ids ("<ms>-<seq>").
local function id_less(a, b)
  local am, as = string.match(a, '^(%d+)-?(%d*)$')
  local bm, bs = string.match(b, '^(%d+)-?(%d*)$')
  am, bm = tonumber(am) or 0, tonumber(bm) or 0
  if am ~= bm then return am < bm end
  return (tonumber(as) or 0) < (tonumber(bs) or 0)
end

-- prev_id returns the largest stream id below id ('0-0' for the smallest).
local function prev_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  ms, seq = tonumber(ms) or 0, tonumber(seq) or 0
  if seq > 0 then return string.format('%.0f-%.0f', ms, seq - 1) end
  if ms == 0 then return '0-0' end
  return string.format('%.0f', ms - 1) .. '-18446744073709551615'
end

-- raise_mark records the group's low-water mark (field group of the hash
-- mark, "{<stream>}:committed"): the largest entry id at or below which
-- every entry delivered to the group is acknowledged. id is the largest
-- entry this commit acknowledged; an entry still pending below it (in
-- flight at another consumer) holds the mark just below that entry. The
-- mark only rises. The Reader recreates a vanished group there: entries
-- above it are delivered again (those committed already are acknowledged
-- without effects when they name an activity within the dedup window),
-- none below it.
local function raise_mark(mark, stream, group, id)
  local p = redis.call('XPENDING', stream, group)
  if p[1] > 0 and p[2] and id_less(p[2], id) then
    id = prev_id(p[2])
  end
  local cur = redis.call('HGET', mark, group)
  if not cur or id_less(cur, id) then
    redis.call('HSET', mark, group, id)
  end
end
